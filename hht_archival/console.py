"""What the terminal shows: our own lines, not Prefect's machinery, unless --debug asks for it.

``prepare_environment`` must run before Prefect is imported, because Prefect
reads its settings (logging levels, the embedded API's start-up limit) from
the environment once, at import; so this module imports nothing of Prefect.
"""

from __future__ import annotations

import logging
import os
import sys

STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_STARTUP_TIMEOUT_SECONDS = 120  # Prefect's own 20 s failed first runs on a busy 2-core machine
CONSOLE_MARK = "hht_console"
"""The record attribute that marks a log line as meant for the person at the terminal."""


def prepare_environment(debug: bool) -> None:
    """Quiet Prefect's console for the CLI; keep everything flowing to the Prefect API."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The embedded API (no PREFECT_API_URL) migrates a fresh database first (hht_archival/engine.py).
    limit = os.environ.setdefault(STARTUP_TIMEOUT_VARIABLE, str(DEFAULT_STARTUP_TIMEOUT_SECONDS))
    if not limit.strip().isdigit():  # Prefect itself would stop at import with a validation traceback
        print(
            f"❌ {STARTUP_TIMEOUT_VARIABLE}={limit!r} is not a whole number of seconds; set it to one, "
            "such as 120, or unset it.",
            file=sys.stderr,
        )
        sys.exit(2)
    if not debug:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
        # Prefect's own services (events, log shipping) report a lost API on stderr by the dozen,
        # through its debug handler and stdlib logging's error printout; the CLI says it once.
        os.environ["PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL"] = "CRITICAL"
        logging.raiseExceptions = False
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "CRITICAL")


class _MarkedLines(logging.Handler):
    """Print the messages our tasks mark for the person at the terminal, and our own warnings.

    With several sponsors running at once, each line is prefixed by its flow run's
    name (``archive-titan-production``) so interleaved lines stay readable.
    """

    def __init__(self, prefix_runs: bool) -> None:
        super().__init__(level=logging.INFO)
        self.prefix_runs = prefix_runs

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if getattr(record, CONSOLE_MARK, False):
                run = getattr(record, "flow_run_name", None)
                message = record.getMessage()
                if self.prefix_runs and run and run.startswith("archive-"):
                    message = "\n".join(f"[{run}] {line}" for line in message.splitlines())
                print(message, flush=True)
            elif record.levelno >= logging.WARNING and record.name.startswith("hht_archival"):
                print(f"warning: {record.getMessage()}", file=sys.stderr, flush=True)
        except Exception:  # a console problem must never fail a backup
            self.handleError(record)


def attach_console(prefix_runs: bool = False) -> None:
    """Attach after Prefect has configured logging, which replaces handlers on its loggers."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the demo's S3 server's request log
    handler = _MarkedLines(prefix_runs)
    for name in ("prefect.flow_runs", "prefect.task_runs", "hht_archival"):
        logging.getLogger(name).addHandler(handler)
