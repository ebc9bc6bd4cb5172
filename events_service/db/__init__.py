"""Database layer: engine and per-request session, table models, and the SQL in queries/."""
