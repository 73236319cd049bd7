"""Database access: engines per dialect, the schema, and the unit of work."""
