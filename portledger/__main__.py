from portledger.cli import main

raise SystemExit(main())
