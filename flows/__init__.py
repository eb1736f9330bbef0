"""Prefect flows: one sponsor, all sponsors (in process or fanned out), restore drills, doctor, status.

Layering: flows may import tasks, blocks and hht_archival; nothing below them imports a flow
(the command line and the demo call flows; deployments name them in prefect.yaml).
"""
