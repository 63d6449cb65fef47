"""The git room: repository access (:mod:`.repo`), the semantic port diff between two
states (:mod:`.diff`, reading each state with :mod:`.reader`), and the commit gate PL301
(:mod:`.gate`). May import the compose and ledger readers; never the probe."""
