"""One module per step of the archival pipeline; each task is thin, over an adapter.

Layering: tasks may import blocks (a sponsor's resolved configuration) and hht_archival (adapters,
names, the log); never flows.
"""

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

from hht_archival.retry import retry_on_transient

archival_task = partial(
    task,
    # A backup must never be served from a cache: every run dumps afresh.
    cache_policy=NO_CACHE,
    persist_result=False,
    retry_condition_fn=retry_on_transient,
)
