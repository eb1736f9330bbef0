"""Adapters: the only code that talks to PostgreSQL (pg_dump, psql, queries) and S3; tasks stay thin."""
