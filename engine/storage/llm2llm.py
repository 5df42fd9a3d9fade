"""llm2llm area: schema and queries (owned by the llm2llm module)."""

SCHEMA = ""
