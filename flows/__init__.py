"""Prefect flows: one sponsor's archival (and, later, all sponsors and restore)."""
