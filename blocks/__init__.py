"""Configuration: the environment, which of it belongs to which sponsor, and the Prefect blocks.

Layering: blocks may import only hht_archival's core (errors, names); never tasks or flows. Only
blocks/sponsor.py imports Prefect, so a configuration error is reported without starting it.
"""
