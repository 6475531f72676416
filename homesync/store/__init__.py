"""Persistence: SQLite (all the SQL lives here) and the content-addressed chunk store."""
