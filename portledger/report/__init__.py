"""The report room: the finding reporters (:mod:`.reporters`: text, json, github, sarif,
markdown; :mod:`.sarif`), the port map for people (:mod:`.portmap`) and the rule reference
(:mod:`.docgen`). Reporters are handed the rules they describe; they never import the
catalogue."""
