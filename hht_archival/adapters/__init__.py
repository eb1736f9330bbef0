"""Adapters: the only code that talks to pg_dump and S3; tasks stay thin over them."""
