"""Deployments: declared in prefect.yaml; this package holds their pull step and what callers need.

Layering: pull.py imports nothing of this project (a worker imports it before the deployed code
is cloned); trigger.py may import blocks, hht_archival and flows/parameters.py (the one list of
the parameters it sends).
"""
