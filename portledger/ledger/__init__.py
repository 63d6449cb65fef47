"""The ledger room: ``port-mapping.yml`` as a model (:mod:`.model`: loading, the JSON Schema
check, PL100-PL102), its rules PL103-PL110 (:mod:`.rules`), the allocation policy
(:mod:`.allocation`), well-known ports (:mod:`.wellknown`) and address overlap
(:mod:`.overlap`). May import the primitives only."""
