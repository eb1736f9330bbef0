"""Warm start: a worker's flow runs forked from an interpreter that has already imported Prefect.

Why: each flow run of a process worker is a new Python process that starts,
imports Prefect and the libraries the flows use (boto3, psycopg, pydantic),
then runs; measured here at about 2 s of CPU per run before its own work, the
largest part of a sponsor's cost in a fan-out night. ``hht-archival worker``
therefore starts, beside Prefect's worker, a small server (server.py) that
imports all of that once and forks a child per flow run. The worker starts each
run as a tiny client (client.py) that hands the server its environment,
working directory and standard streams and relays signals and the exit
status, so to Prefect's worker a run is still one process it can signal and
wait for. The child then does exactly what ``python -m prefect.engine`` does,
with Prefect's settings read again from the run's environment, and imports
our own modules afresh from the deployed commit's clone (the server never
keeps them), so a run never executes the worker clone's code by mistake.

Where the server is not there (a plain ``prefect worker start``, the
setting below set to ``off``, or the server gone) the client starts
``python -m prefect.engine`` itself, as Prefect would: warm start only ever
saves time.

Nothing in this package imports Prefect except server.py's preloading and
worker.py: the client must start in milliseconds.
"""

from hht_archival.switches import switched_on

SOCKET_VARIABLE = "HHT_ARCHIVAL_WARM_START_SOCKET"  # set by `hht-archival worker` for its runs
SETTING = "ARCHIVAL_WARM_START"  # "off" starts every run cold, as Prefect's own worker does
OUR_PACKAGES = frozenset({"hht_archival", "flows", "tasks", "blocks", "deployments"})


def enabled(environment) -> bool:
    """Whether ``hht-archival worker`` should start runs warm (the default) or cold."""
    return switched_on(environment, SETTING)
