"""Configuration: the environment, which of it belongs to which sponsor, and the Prefect blocks.

The design card names this folder for configuration, "Prefect blocks and the pydantic-settings
that feed them", so the domain's core of it lives here too: a sponsor's resolved configuration,
its defaults and the one precedence (config.py), beside the block (sponsor.py) that is one of
its sources. Everything else asks config.py; nothing restates a default.

Layering: blocks may import only hht_archival's core (errors, names); never tasks or flows. Only
blocks/sponsor.py imports Prefect, so a configuration error is reported without starting it.
"""
