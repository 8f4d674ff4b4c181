"""Services: the transaction boundary (the only place that commits) and ORM <-> plain-data mapping."""
