"""Against a real PostgreSQL (embedded unless DATABASE_URL is set)."""
