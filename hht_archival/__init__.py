"""hht-archival: PostgreSQL backups and deployment audit logs archived to S3, per sponsor.

The shared core (errors, names, adapters, CLI) lives here; the Prefect layers
live in the top-level ``flows``, ``tasks`` and ``blocks`` packages.
"""

__version__ = "0.1.0"
