"""Configuration: the environment (pydantic-settings) and Prefect blocks that feed one sponsor's run."""
