"""hht-archival: PostgreSQL backups and deployment audit logs archived to S3, per sponsor.

The shared core (errors, names, adapters, the JSON log, restore, alerts, the CLI) lives here; the
Prefect layers live in the top-level ``flows``, ``tasks`` and ``blocks`` packages (the design
card's folders). Layering: adapters import nothing above them; a few core modules read a
sponsor's resolved configuration (blocks.config); only the CLI and the demo import flows.
``flows``, ``tasks``, ``blocks`` and ``deployments`` install as top-level packages because the
design card names those folders and Prefect's deployments load their entrypoints by those paths;
the price is that another distribution with a top-level package of the same name would collide
with them in one environment, so install hht-archival in its own (bin/ sets up `.venv`).
"""

__version__ = "0.1.0"
