"""runs area: schema and queries (owned by the runs module)."""

SCHEMA = ""
