"""Record pickers and the global search: one place that finds records of every domain.

Each kind of record is found with its own domain's search and scoped by the same rules as
its list (participants by office, audited); every query is bounded.
"""
