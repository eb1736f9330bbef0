"""Deployments: declared in prefect.yaml; this package holds what callers of them need."""
