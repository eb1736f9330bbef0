"""Prefect's server application, built and ready to route before its server is told to serve.

Why: a forked server (forked_server.py) that waits for its port has time to
spare while the command checks the database and buckets. Two pieces of the
server's work can be done then instead of on the run's path: ``create_app``
(about 0.3 s on a quiet machine), which uvicorn's factory would call only once
told to serve; and FastAPI's table of each included router's routes, which
FastAPI (0.137 and later) builds on the first request matched against it,
about 0.2 s for Prefect's routers, paid until now inside the first flow run.
Both read only Prefect's settings and touch no database, so a run the checks
stop still leaves nothing. It is the same application ``prefect server start``
serves, built by Prefect's own function.
"""

from __future__ import annotations

from typing import Any


def build_application() -> Any:
    """Prefect's ``create_app`` with the environment's settings, its routes' tables built."""
    from prefect.server.api.server import create_app

    application = create_app()
    build_route_tables(application.routes)
    return application


def build_route_tables(routes: list[Any]) -> int:
    """Ask each included router for its routes as its first request would; return how many were built.

    It goes by the names FastAPI's own routing uses (``effective_candidates``,
    ``effective_low_priority_routes``): under a FastAPI without them nothing is
    built here and each router builds its table when first asked, as before.
    """
    built = 0
    for route in routes:
        if hasattr(route, "effective_candidates") and hasattr(route, "effective_low_priority_routes"):
            candidates = route.effective_candidates()
            route.effective_low_priority_routes()
            built += 1 + build_route_tables(candidates)
        else:  # a mounted application (Prefect's API under /api) has routers of its own
            router = getattr(getattr(route, "app", None), "router", None)
            built += build_route_tables(getattr(router, "routes", []))
    return built
