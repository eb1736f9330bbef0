"""Warm start: a flow run forked from the warm-start server behaves as the process Prefect would start.

Real parts: `python -m hht_archival.warm_start.server` and the client a worker
starts, a deployment and flow run on the team's Prefect server (`prefect_server`),
Prefect's own engine in the forked run. The fleet's tests (test_deployments,
test_lost_worker) run every flow run of `hht-archival worker` this way too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hht_archival.warm_start import SOCKET_VARIABLE
from tests.support.prefectserver import api_request
from tests.support.processes import stop

PROBE_FLOW = """
import os, sys, time
from prefect import flow

@flow
def probe(sleep: float = 0.0):
    ours = sys.modules.get("hht_archival")
    print(f"probe pid={os.getpid()} parent={os.getppid()} value={os.environ.get('PROBE_VALUE')} "
          f"our_package_loaded={ours is not None}", flush=True)
    time.sleep(sleep)
"""
UNREACHABLE_API = "http://127.0.0.1:9/api"  # what the server was started with: a run must use its own


@pytest.fixture(scope="module")
def probe_deployment(prefect_server, tmp_path_factory):
    code = tmp_path_factory.mktemp("probe-code")
    (code / "probe_flow.py").write_text(PROBE_FLOW)
    api = prefect_server.api_url
    flow_id = api_request("POST", f"{api}/flows/", json={"name": "probe"}).json()["id"]
    deployment = {
        "name": "warm-start-probe",
        "flow_id": flow_id,
        "entrypoint": "probe_flow.py:probe",
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(code)}}],
    }
    return api_request("POST", f"{api}/deployments/", json=deployment).json()["id"]


@pytest.fixture(scope="module")
def warm_server(prefect_server, tmp_path_factory):
    where = tmp_path_factory.mktemp("warm")
    path = where / "runs.sock"
    log = where / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hht_archival.warm_start.server", str(path)],
        env={**os.environ, **prefect_server.env(), "PREFECT_API_URL": UNREACHABLE_API},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        process_group=0,
    )
    deadline = time.monotonic() + 120
    while b"warm start ready" not in log.read_bytes():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    yield proc, path
    stop(proc)


def _start_run(prefect_server, deployment_id, socket_path, tmp_path, env=None, sleep=0.0):
    run = api_request(
        "POST",
        f"{prefect_server.api_url}/deployments/{deployment_id}/create_flow_run",
        json={"parameters": {"sleep": sleep}},
    ).json()
    workdir = tmp_path / f"run-{run['id'][:8]}"
    workdir.mkdir()
    client = subprocess.Popen(
        [sys.executable, "-m", "hht_archival.warm_start.client"],
        cwd=workdir,
        env={
            **os.environ,
            **prefect_server.env(),
            SOCKET_VARIABLE: str(socket_path),
            "PREFECT__FLOW_RUN_ID": run["id"],
            "PROBE_VALUE": "the-runs-own",
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as Prefect's worker starts a run
    )
    return run["id"], client


def _probe_line(client) -> dict[str, str]:
    for line in client.stdout:
        if line.startswith("probe pid="):
            return dict(part.split("=", 1) for part in line.split() if "=" in part)
    raise AssertionError("the run never printed its probe line")


def _state(prefect_server, run_id, final=True, timeout=30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = api_request("GET", f"{prefect_server.api_url}/flow_runs/{run_id}").json()["state"]["type"]
        if (
            not final
            or state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
            or time.monotonic() > deadline
        ):
            return state
        time.sleep(0.2)


def _gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_warm_run_is_forked_with_its_own_environment_and_completes(
    prefect_server, probe_deployment, warm_server, tmp_path
):
    server, path = warm_server
    run_id, client = _start_run(prefect_server, probe_deployment, path, tmp_path)
    probe = _probe_line(client)
    rest = client.stdout.read()
    assert client.wait(timeout=60) == 0, rest
    assert probe["parent"] == str(server.pid)  # forked from the warm server, not started cold
    assert probe["value"] == "the-runs-own"  # its environment, not the server's
    assert probe["our_package_loaded"] == "False"  # our modules come from the deployed code, not the server
    # The server was started with an API nobody answers: the run reached the real one from its own settings.
    assert _state(prefect_server, run_id) == "COMPLETED"
    assert "starting the flow run cold" not in rest


def test_a_signal_to_the_run_reaches_the_forked_process_and_nothing_stays_running(
    prefect_server, probe_deployment, warm_server, tmp_path
):
    _server, path = warm_server
    run_id, client = _start_run(prefect_server, probe_deployment, path, tmp_path, sleep=60)
    forked = int(_probe_line(client)["pid"])
    os.killpg(client.pid, signal.SIGTERM)  # what Prefect's worker sends a run it stops
    client.communicate(timeout=30)  # read what the run still writes: a full pipe would hold it up
    assert client.returncode != 0
    assert _gone(forked)
    assert _state(prefect_server, run_id) != "RUNNING"


def test_a_run_whose_client_is_killed_outright_ends_too(
    prefect_server, probe_deployment, warm_server, tmp_path
):
    _server, path = warm_server
    _run_id, client = _start_run(prefect_server, probe_deployment, path, tmp_path, sleep=60)
    forked = int(_probe_line(client)["pid"])
    client.kill()  # SIGKILL cannot be forwarded: the run sees its client's connection close
    client.wait()
    assert _gone(forked)


@pytest.mark.parametrize(
    ("why", "env"),
    [
        ("no server at the socket", {SOCKET_VARIABLE: "/nonexistent/runs.sock"}),
        ("another PYTHON* environment", {"PYTHONHASHSEED": "7"}),
    ],
)
def test_a_run_the_server_cannot_take_starts_cold_and_completes(
    prefect_server, probe_deployment, warm_server, tmp_path, why, env
):
    server, path = warm_server
    run_id, client = _start_run(prefect_server, probe_deployment, path, tmp_path, env=env)
    output = client.communicate(timeout=120)[0]
    assert client.returncode == 0, output
    assert "starting the flow run cold" in output, why
    assert f"parent={server.pid} " not in output
    assert _state(prefect_server, run_id) == "COMPLETED"


def test_the_server_stops_taking_runs_on_sigterm_and_leaves_no_socket(prefect_server, tmp_path):
    path = tmp_path / "runs.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hht_archival.warm_start.server", str(path)],
        env={**os.environ, **prefect_server.env()},
        stderr=subprocess.PIPE,
        process_group=0,
    )
    deadline = time.monotonic() + 60
    while not Path(path).exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not path.exists()
