"""``prefect worker start`` with one change: a flow run whose deployment sets no command starts warm.

Why a subclass rather than a ``command`` in prefect.yaml: the command is this
worker's business (the client lives in the worker's environment, and only a
worker started by ``hht-archival worker`` has a warm-start server), so a plain
``prefect worker start`` elsewhere keeps Prefect's own way. The class takes the
``process`` type's place in Prefect's registry, in this process only, and the
rest is Prefect's command line as is (its options, health check and shutdown).
"""

from __future__ import annotations

import os
import sys
import warnings

from prefect.utilities.processutils import command_to_string
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker

from hht_archival.warm_start import SOCKET_VARIABLE

CLIENT_MODULE = "hht_archival.warm_start.client"


class WarmJobConfiguration(ProcessJobConfiguration):
    def prepare_for_flow_run(self, *args, **kwargs) -> None:
        if self.command is None and os.environ.get(SOCKET_VARIABLE):
            self.command = command_to_string([sys.executable, "-m", CLIENT_MODULE])
        super().prepare_for_flow_run(*args, **kwargs)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Prefect warns that the "process" type is taken over: that is the point

    class WarmProcessWorker(ProcessWorker):
        type = "process"
        job_configuration = WarmJobConfiguration


def main() -> None:
    from prefect.cli import app

    app()  # Prefect's command line, reading sys.argv: `... worker start --pool ...`


if __name__ == "__main__":
    main()
