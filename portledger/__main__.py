from portledger.cli import run

run()
