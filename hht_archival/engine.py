"""The Prefect API a command-line run talks to: the server Prefect is configured with, or one of ours.

Why not Prefect's own ephemeral server when none is configured: Prefect starts
it only when the first client asks, after this process has imported Prefect's
whole server application just to launch it, and it gives up after the limit it
read when Prefect was imported. Started here, the same server (Prefect's
``create_app``, ephemeral, no UI, on the same PREFECT_HOME database Prefect
would use) starts in a fork of this process, past Prefect's import
(forked_server.py), while this process imports the flows, on a database
already migrated where the home is new (embedded_database.py); a server that
cannot start becomes one sentence with the fix. It serves, and opens its
database, only once the checks of the database and buckets passed: a run they
stop leaves nothing. For a run asked to archive, its process is forked before
those checks, to import Prefect's server application meanwhile
(``prepare_prefect_api``); Prefect's work it has no use for is turned off.
A configured server (PREFECT_API_URL, a profile, prefect.toml) is used as is.

What an embedded API cannot do: it lives as long as the command, so nothing
that must outlive a run or be shared between machines lives in it (the archive
lock is in the sponsor's database: flows/sponsor_lock.py), and its runs send
no heartbeats, which only a lasting server can watch. It runs in a session
of its own, so a Ctrl-C at the terminal reaches the command, which then still
has an API to record how its run ended (hht_archival/stopping.py).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from hht_archival import import_gc
from hht_archival.console import DEFAULT_STARTUP_TIMEOUT_SECONDS, STARTUP_TIMEOUT_VARIABLE
from hht_archival.errors import ArchivalError
from hht_archival.forked_server import ForkedServer, may_fork, signals_deferred

_START_ATTEMPTS = 3  # a second command migrating the same new database at once can make the first exit
_PASSED_TO_SERVER = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "PYTHONPATH")
_SERVER_MAIN = """
import ctypes, os, runpy, signal, sys
command = int(sys.argv.pop(1))
try:  # Linux: the kernel sends SIGTERM to this server when the command that started it dies
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != command:  # it died before the line above took effect
    sys.exit(1)
# Started while the command held these (forked_server.signals_deferred): a stop sent meanwhile ends it now.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
sys.argv[0] = "uvicorn"
runpy.run_module("uvicorn", run_name="__main__")
"""

# Work an API that lives as long as one command has no use for, turned off by its owners' own
# settings. Each cost every enabled run on such an API its share of the CPU (seen with py-spy; the
# figures are benchmarks/startup.py's):
# - the memo of block registration imports every installed Prefect collection (prefect-aws and
#   boto3 among them) to hash the block types, about 1 s, even with registration turned off above;
# - triggers and the actions of automations: automations live on a lasting server (`alerts
#   install`), never on this one, and the actions service built a second copy of the API at start;
# - py-key-value (under Prefect's task queue, docket) wraps each of its functions in beartype's
#   checks at import unless told not to, 0.3-0.4 s; its checks only ever warn.
_NOTHING_TO_DO_FOR_A_COMMANDS_RUN = {
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PY_KEY_VALUE_DISABLE_BEARTYPE": "true",
}


def server_settings() -> dict[str, str]:
    """The settings the embedded API's server runs with, whatever the environment says."""
    return {
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",  # no UI to list block types in
        **_NOTHING_TO_DO_FOR_A_COMMANDS_RUN,
    }


_embedded_url: str | None = None
_prepared: EmbeddedApi | None = None


class EngineUnavailable(ArchivalError):
    """The embedded Prefect API could not be started; the message says what to do instead."""


def configured_api_url() -> str | None:
    """The API URL Prefect's settings name, from wherever Prefect reads them; None if none."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def embedded_api_in_use() -> bool:
    """Whether this process's flows talk to an API started here, which holds nobody's settings."""
    return _embedded_url is not None and configured_api_url() == _embedded_url


def start_prefect_api(whose: str, debug: bool = False) -> Callable[[], None]:
    """Make sure the flows this command runs will have a Prefect API; return a function that waits for it.

    With a configured server nothing is started and the function returns at
    once. Otherwise an embedded API starts now (the one ``prepare_prefect_api``
    prepared, if it did), so that its start-up overlaps with importing the
    flows; call the function just before the first flow. The embedded API
    stops when the process ends (``EmbeddedApi``). Either way the function
    ends the command's start-up (import_gc.py).
    """
    global _prepared
    if configured_api_url() is not None:
        return import_gc.started
    api, _prepared = _prepared or EmbeddedApi(startup_timeout(), debug), None
    api.start()

    def ready() -> None:
        api.wait_until_ready(whose)
        import_gc.started()  # the command's start-up ends with it (import_gc.py)

    return ready


def prepare_prefect_api(debug: bool = False) -> None:
    """For a run that will most likely need the embedded API: fork its server now, to import while we check.

    The server only imports and builds Prefect's server application
    (server_application.py) until ``start_prefect_api`` tells it its port; it
    touches no database, so a run the checks stop leaves nothing
    (``abandon_prepared_api``, or the exit).
    Nothing is prepared where a server is configured or this process may not fork.
    """
    global _prepared
    if _prepared is None and configured_api_url() is None and may_fork():
        _prepared = EmbeddedApi(startup_timeout(), debug)
        _prepared.prepare()


def abandon_prepared_api() -> None:
    """Stop a server prepared for a run that turned out not to need it (archival off, say)."""
    global _prepared
    if _prepared is not None:
        _prepared.stop()
        _prepared = None


def startup_timeout() -> float:
    """Prefect's own setting for its ephemeral server, so one variable governs both (console.py checks it)."""
    raw = os.environ.get(STARTUP_TIMEOUT_VARIABLE, "")
    return float(raw) if raw.strip().isdigit() else DEFAULT_STARTUP_TIMEOUT_SECONDS


class EmbeddedApi:
    """Prefect's server in a child process on a loopback port, stopped when this process ends.

    It gets only Prefect's own settings and a few basics from the environment,
    never the database URL or cloud keys of the run. If this process is killed,
    the kernel stops the child too (PR_SET_PDEATHSIG), so no server is left behind.
    """

    def __init__(self, timeout: float, debug: bool = False) -> None:
        self.timeout = timeout
        self.debug = debug
        self.url = ""
        self.process: subprocess.Popen | ForkedServer | None = None
        descriptor, output = tempfile.mkstemp(prefix="hht-archival-prefect-api-", suffix=".log")
        os.close(descriptor)  # the server opens it for itself
        self._output = Path(output)
        self._started = 0.0
        self._seeded = False
        self.ready = False

    def prepare(self) -> None:
        """Fork the server, to import its application and wait for ``start`` (forked_server.py)."""
        # Registered first, as in start: a run stopped (or refused) while it imports still stops it.
        atexit.register(self.stop)
        with signals_deferred():
            self.process = ForkedServer.prepare(self._environment(), self._log_for_server())

    def start(self) -> None:
        self._started = time.monotonic()
        self._seeded = _seed_database()
        # Prefect's own exit work (sending the run's last events and logs) runs first, at thread
        # shutdown; atexit hooks run after it, so the server outlives what is sent to it. Registered
        # first: a run stopped while the server starts still stops it.
        atexit.unregister(self.stop)  # once, whether prepared or not
        atexit.register(self.stop)
        self._spawn()

    def _environment(self) -> dict[str, str]:
        """Prefect's settings and a few basics of this process's environment; never the run's secrets."""
        environment = {
            **{
                k: v
                for k, v in os.environ.items()
                if k.startswith(("PREFECT_", "LC_")) or k in _PASSED_TO_SERVER
            },
            **server_settings(),
        }
        environment.pop("PREFECT_API_URL", None)
        return environment

    def _log_for_server(self) -> Path | None:
        return None if self.debug else self._output

    def _spawn(self) -> None:
        """Start the server on a free port and point this process's Prefect settings at it."""
        global _embedded_url
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        last = {}
        if self._seeded:  # migrated by this Prefect version a moment ago (embedded_database.py): current
            last["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
        if isinstance(self.process, ForkedServer) and self.process.prepared:
            self.process.serve(port, last)
        else:
            environment = {**self._environment(), **last}
            with signals_deferred():  # a stop now is handled once the process is known, so it is stopped too
                if may_fork():
                    self.process = ForkedServer.start(port, environment, self._log_for_server())
                else:
                    self.process = self._spawn_interpreter(port, environment)
        # Prefect read its settings when it was imported: refresh them from the environment.
        os.environ["PREFECT_API_URL"] = _embedded_url = self.url
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        _send_no_heartbeats()

    def _spawn_interpreter(self, port: int, environment: dict[str, str]) -> subprocess.Popen:
        """A new interpreter that imports Prefect again: where this process may not fork."""
        output = None if self.debug else self._output.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_MAIN, str(os.getpid())]
            + ["--factory", "prefect.server.api.server:create_app"]
            + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            # Out of the terminal's process group: a Ctrl-C is for the command, which then needs
            # this API to record how its run ended; the server stops with the command (above).
            start_new_session=True,
        )
        if output is not None:
            output.close()
        return process

    def wait_until_ready(self, whose: str) -> None:
        """Wait for the API's health check; retry a server that exited early; else one sentence."""
        attempts = 1
        _import_what_the_first_run_needs()
        while time.monotonic() - self._started < self.timeout:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                if attempts >= _START_ATTEMPTS:
                    raise EngineUnavailable(
                        f"The embedded Prefect API exited with code {code} while starting for {whose} (its "
                        f"output is in {self._output}); start a Prefect server (prefect server start) and "
                        "set PREFECT_API_URL to it, then run again."
                    )
                attempts += 1
                self._spawn()
                continue
            if _healthy(self.url):
                self._output.unlink(missing_ok=True)
                self.ready = True
                return
            time.sleep(0.1)
        self.stop()
        raise EngineUnavailable(
            f"The embedded Prefect API did not start within {self.timeout:g} s for {whose}; start a "
            "Prefect server (prefect server start) and set PREFECT_API_URL to it, or allow more time with "
            f"{STARTUP_TIMEOUT_VARIABLE}."
        )

    def stop(self) -> None:
        """Stop the server; one still starting (a run stopped while it migrated) is not waited for long.

        A server in the middle of its migrations ignores SIGTERM until they end; each
        migration is a transaction of SQLite's, so killing it loses none, and the
        next command's server carries on from the last one committed.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self._wait_for_the_stop(10 if self.ready else 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):  # a log that says nothing is not worth keeping (ready: gone)
            if self._output.stat().st_size == 0:
                self._output.unlink()

    def _wait_for_the_stop(self, timeout: float) -> None:
        """Wait for the server told to stop; a Ctrl-C meanwhile waits on, a second one kills it.

        Why: the stop runs as the command ends, after its run's outcome is
        printed; a Ctrl-C pressed then (the run looked finished) raised out of
        this exit hook as a traceback and left the server to finish alone.
        """
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except KeyboardInterrupt:
            try:
                self.process.wait(timeout=timeout)
            except KeyboardInterrupt:
                self.process.kill()
                self.process.wait()


# Modules Prefect imports only when a flow run starts (fastapi's encoder for the run's parameters, the
# task engine): imported while the API starts instead, when this process has nothing else to do.
_FIRST_RUN_IMPORTS = ("fastapi.encoders", "prefect.task_engine", "prefect.concurrency.services")


def _import_what_the_first_run_needs() -> None:
    for name in _FIRST_RUN_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _send_no_heartbeats() -> None:
    """Flow runs on this API send no heartbeats: no one else can read them, and each run paid for them.

    Heartbeats let a lasting server tell a run whose machine was lost from a
    quiet one (flows/lost_runs.py); this API ends with the command. Prefect's
    engine stops its heartbeat thread at the end of every flow run by joining
    it, and the thread sleeps in one-second steps: up to a second per run.
    """
    import prefect.context
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    current = prefect.context.GLOBAL_SETTINGS_CONTEXT
    prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.SettingsContext(
        profile=current.profile,
        settings=current.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    )


def _seed_database() -> bool:
    """A new PREFECT_HOME gets Prefect's database migrated already (embedded_database.py), not empty.

    True when the copy was placed now: its server need not check it.
    """
    from prefect.settings import get_current_settings

    from hht_archival.embedded_database import enabled, prepare_template, seed_new_home

    url = get_current_settings().server.database.connection_url
    if url is None or not enabled() or prepare_template() is None:
        return False
    return seed_new_home(url.get_secret_value())


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:  # noqa: S310 (loopback)
            return reply.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
