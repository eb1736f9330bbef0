"""No silent failures, end to end: a real `prefect server start`, its automations, a webhook on loopback.

Every notification here is sent by the Prefect server's own automations through a
custom-webhook notification block, and received over HTTP by tests/support/webhook.py;
the runs are the real command against real PostgreSQL, pg_dump and moto's S3.
Waits poll for the message with a generous bound (the server evaluates proactive
triggers every 5 s; the machine is shared), never a fixed sleep. Nothing here uses
Prefect's client in the test process (blocks are saved and flows run by child
processes): a client pointed at this server would stay Prefect's process-wide
events client, and other test files in the same worker talk to another API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest

from hht_archival.adapters.postgres import mask_url
from tests.conftest import AUDIT, BACKUPS, SPONSOR, log_files, run_cli
from tests.support.prefectserver import api_request
from tests.support.s3server import list_keys
from tests.support.webhook import WebhookReceiver, save_webhook_block

TOKEN = "tok-5e3c7a1d9b"  # the webhook URL's secret part: it lives in the block's secrets only
BLOCK = "custom-webhook/hht-test-ops"
UNREACHABLE = "postgresql://postgres@127.0.0.1:9/gone"
WAIT = 150  # seconds: bounds, not expectations; a message usually arrives within a few seconds


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as webhook:
        yield webhook


@pytest.fixture(scope="module")
def alerts_server(pg_admin_url):
    """A Prefect server of this module's own (on PostgreSQL, as the team's): its tests count titan's
    events, incidents and messages, which the session's server also gets from other files' runs."""
    from tests.support.prefectserver import PrefectServer

    with PrefectServer(postgres_admin_url=pg_admin_url) as server:
        yield server


@pytest.fixture(scope="module")
def installed(alerts_server, receiver, tmp_path_factory):
    """A notification block on the server and alerts for titan (production, staging); removed afterwards."""
    prefect_server = alerts_server
    save_webhook_block(prefect_server.env(), receiver.url, BLOCK.split("/")[1], TOKEN)
    manifest = tmp_path_factory.mktemp("alerts") / "sponsors.yaml"
    manifest.write_text("sponsors:\n  - name: titan\n    environments: [production, staging]\n")
    # Set up before the per-test environment (tests/conftest.py): titan is named the home sponsor here.
    first = _cli(
        prefect_server, "alerts", "install", "--block", BLOCK, "--manifest", str(manifest), SPONSOR=SPONSOR
    )
    assert first.returncode == 0, first.stdout + first.stderr
    yield prefect_server, manifest, first
    _cli(prefect_server, "alerts", "remove")


def _cli(server, *args, **env):
    return run_cli(*args, env={**server.env(), "ENABLE_S3_BACKUP_ARCHIVAL": "true", **env})


def _run(server, environment, database_url):
    return _cli(server, "run", "--sponsor", SPONSOR, "--environment", environment, DATABASE_URL=database_url)


def _newest_log(tmp_path) -> dict:
    return json.loads(log_files(tmp_path / "logs" / SPONSOR)[-1].read_text())


def _logs(tmp_path) -> list[dict]:
    return [json.loads(path.read_text()) for path in log_files(tmp_path / "logs" / SPONSOR)]


def _ledger(server, family: str, environment: str) -> dict:
    name = f"hht-alerts-{family}-{SPONSOR}-{environment}"
    return api_request("GET", f"{server.api_url}/variables/name/{name}").json()["value"]


def _start_cli(server, *args, **env) -> subprocess.Popen:
    """The command in the background, as a second terminal would run it."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("hht-archival")), *args],
        env={**os.environ, **server.env(), "ENABLE_S3_BACKUP_ARCHIVAL": "true", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_waiting_on_a_lock(database_url: str, run: subprocess.Popen) -> None:
    """Poll until a session of ``database_url`` (the run's pg_dump) waits for a table lock."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and run.poll() is None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.2)
    raise AssertionError(f"the archive never waited on the lock (exit {run.poll()})")


def test_alerts_install_twice_creates_nothing_twice_and_doctor_shows_them(installed, s3):
    server, manifest, first = installed
    assert "Automations: 4 created, 0 updated, 0 unchanged, 0 removed; ledgers: 6 created." in first.stdout
    assert (  # titan has no drill scratch server here: the drill expectations are another test's
        "✅ titan (production): a successful archive expected every 26 h; drills not configured (set "
        "ARCHIVAL_DRILL_DATABASE_URL), so no drill is expected" in first.stdout
    )

    again = _cli(server, "alerts", "install", "--block", BLOCK, "--manifest", str(manifest))

    assert again.returncode == 0, again.stderr
    assert "Automations: 0 created, 0 updated, 4 unchanged, 0 removed; ledgers: 0 created." in again.stdout
    automations = api_request("POST", f"{server.api_url}/automations/filter", json={}).json()
    names = [a["name"] for a in automations if a["name"].startswith("hht-alerts-")]
    assert len(names) == len(set(names)) >= 4
    assert TOKEN not in json.dumps(automations)  # the webhook's secret stays in its block
    doctor = _cli(server, "doctor", "--sponsor", SPONSOR, "--environment", "production", "--json")
    [alerts] = [row for row in json.loads(doctor.stdout) if row["check"] == "alerts"]
    assert alerts["status"] == "ok", alerts
    assert alerts["detail"].startswith(
        "a successful archive expected every 26 h, no drill expected (drills not configured: set "
        "ARCHIVAL_DRILL_DATABASE_URL); "
    )
    assert f"notifications through {BLOCK}" in alerts["detail"]


def test_a_failed_archive_notifies_once_and_the_next_success_sends_the_recovery(
    installed, receiver, s3, seeded_db, tmp_path
):
    server = installed[0]
    assert _run(server, "staging", seeded_db).returncode == 0
    good = _newest_log(tmp_path)

    failed = [_run(server, "staging", UNREACHABLE) for _ in range(2)]

    assert [done.returncode for done in failed] == [1, 1], failed[0].stderr
    subject = "❌ hht-archival titan (staging): archiving failed"
    [message] = receiver.wait_for(subject, timeout=WAIT)
    first_failure = json.loads(sorted(log_files(tmp_path / "logs" / SPONSOR))[1].read_text())
    body = message["body"]
    assert "Sponsor: titan\nEnvironment: staging\n" in body
    assert "What is wrong: archiving failed: The database for sponsor titan did not answer after " in body
    assert "\nSince: 20" in body and " UTC\n" in body
    assert f"Last good backup: {good['backup_location']} (" in body
    assert f"Run: http://127.0.0.1:{server.port}/runs/flow-run/{first_failure['flow_run_id']}\n" in body
    assert message["path"] == f"/hook/{TOKEN}" and TOKEN not in json.dumps(message["body"])

    assert _run(server, "staging", seeded_db).returncode == 0

    [recovery] = receiver.wait_for("✅ hht-archival titan (staging): archiving works again", timeout=WAIT)
    assert "Resolved: archiving failed, since " in recovery["body"] and "(2 run(s))" in recovery["body"]
    assert f"Last good backup: {_newest_log(tmp_path)['backup_location']}" in recovery["body"]
    assert len(receiver.messages(subject)) == 1  # the second failure was the same incident: no message


def test_a_failed_restore_drill_notifies(installed, receiver, s3):
    """A drill with no scratch server to restore into is a drill that did not pass: someone must know."""
    done = _cli(installed[0], "verify", "--sponsor", SPONSOR, "--environment", "staging")

    assert done.returncode == 2  # bad input: the setting is missing, nothing was done
    assert done.stderr.strip().startswith(
        "❌ The restore drill of sponsor titan (staging) cannot run: no drill scratch server is configured "
        "for titan; set ARCHIVAL_DRILL_DATABASE_URL to the admin URL"
    )
    [message] = receiver.wait_for("❌ hht-archival titan (staging): the restore drill failed", timeout=WAIT)
    assert (
        "What is wrong: the restore drill failed: The restore drill of sponsor titan (staging) cannot run: "
        "no drill scratch server is configured for titan" in message["body"]
    )
    assert "hht-archival verify --sponsor titan --environment staging runs the drill again" in message["body"]


def test_a_sponsor_no_install_names_is_paged_and_an_archive_already_under_way_is_no_recovery(
    installed, receiver, s3, seeded_db, tmp_path
):
    """The operator's week: titan (dev) is in no alerts install, and an archive of it streams (held
    here by a migration's table lock) when a typo in a block name fails another run. That failure pages
    (it used to page nobody), naming the backup archived before its ledger existed and the archive
    still under way (it said "none recorded"); the archive then ends well, and is no recovery, since
    it began before the failure (it sent "archiving works again" a second after the page)."""
    server = installed[0]
    assert _run(server, "dev", seeded_db).returncode == 0
    earlier = _newest_log(tmp_path)
    _wait_until_prefect_recorded(server, earlier["backup_location"], "dev")
    # Alerts installed after that backup: the ledger a run finds (or makes) does not know it.
    httpx.delete(f"{server.api_url}/variables/name/hht-alerts-archive-{SPONSOR}-dev", timeout=30)

    with psycopg.connect(seeded_db) as migration:
        migration.execute("LOCK TABLE diary_entries IN ACCESS EXCLUSIVE MODE")  # until the block ends
        under_way = _start_cli(server, "run", "--environment", "dev", DATABASE_URL=seeded_db)
        _wait_until_waiting_on_a_lock(seeded_db, under_way)
        typo = _cli(server, "run", "--environment", "dev", "--sponsor-block", "titan-typo")
        assert typo.returncode != 0 and "titan-typo does not exist" in typo.stderr
        [page] = receiver.wait_for("❌ hht-archival titan (dev): archiving failed", timeout=WAIT)
    out, err = under_way.communicate(timeout=WAIT)
    assert under_way.returncode == 0, out + err

    body = page["body"]
    print(body)
    wrong = "What is wrong: archiving failed: The Prefect block hht-sponsor-archival/titan-typo does not"
    assert wrong in body
    assert f"Last good backup: {earlier['backup_location']} (" in body
    assert "; an archive started " in body and f" is still running ({server.ui_url}/runs/flow-run/" in body
    ledger = _ledger(server, "archive", "dev")
    assert list(ledger["open"]) == ["failed"]  # the archive under way closed nothing: no recovery was sent
    [finished] = [log for log in _logs(tmp_path) if log["status"] == "archived" and log != earlier]
    assert ledger["last_good"]["location"] == finished["backup_location"]  # but it is the last good one

    # What status and doctor say of a sponsor no install names: both at once, to keep the test short.
    published = _start_cli(server, "status", "--environment", "dev", "--publish", "--json")
    install = _start_cli(server, "alerts", "install", "--block", BLOCK, "--environment", "production")
    doctor = _cli(server, "doctor", "--sponsor", SPONSOR, "--environment", "dev", "--json")
    assert install.wait(timeout=WAIT) == 0
    assert install.stdout.read().splitlines()[-2:] == [
        "  ⚠️  titan (dev): runs on this server and its failures notify, but no archive is expected of it; "
        "add it to the manifest or run this with --sponsor titan --environment dev to be told when it stops "
        "running",
        "Automations: 0 created, 0 updated, 3 unchanged, 0 removed; ledgers: 0 created.",
    ]
    stdout, stderr = published.communicate(timeout=WAIT)
    assert published.returncode == 1, stderr  # an open incident needs attention
    [row] = json.loads(stdout)
    assert row["chain"].startswith("intact (checked "), row
    assert row["expectations"] == "none (hht-archival alerts install)"
    assert [incident.split(" since ")[0] for incident in row["incidents"]] == ["archive failed"]
    [alerts] = [check for check in json.loads(doctor.stdout) if check["check"] == "alerts"]
    assert (alerts["status"], alerts["detail"]) == (
        "warn",
        f"failures notify through {BLOCK}, but no successful archive is expected of titan (dev), "
        f"so a stopped nightly would notify nobody (hht-archival alerts install --block {BLOCK} "
        "--sponsor titan --environment dev)",
    )


def test_a_missed_expectation_notifies_and_a_successful_run_sends_the_recovery(
    installed, receiver, s3, seeded_db
):
    server = installed[0]
    short = _cli(
        server, "alerts", "install", "--block", BLOCK, "--environment", "dev", "--archive-every", "10s"
    )
    assert short.returncode == 0, short.stderr

    [stale] = receiver.wait_for("❌ hht-archival titan (dev): no successful archive for 10 s", timeout=WAIT)[
        :1
    ]

    assert "Sponsor: titan\nEnvironment: dev\n" in stale["body"]
    assert "What is wrong: no successful archive for more than 10 s" in stale["body"]
    assert _run(server, "dev", seeded_db).returncode == 0
    [recovery] = receiver.wait_for("✅ hht-archival titan (dev): archiving resumed", timeout=WAIT)
    assert "Resolved: no successful archive within the expected time, since " in recovery["body"]
    assert "Last good backup: s3://hht-diary-backups-titan-eu-west-1/backups/" in recovery["body"]

    off = _cli(
        server,
        "alerts",
        "install",
        "--block",
        BLOCK,
        "--environment",
        "dev",
        ENABLE_S3_BACKUP_ARCHIVAL="false",
    )
    assert "⚠️  titan (dev): archival is not enabled, so nothing is expected of it" in off.stdout
    assert ", 1 removed;" in off.stdout  # its archive expectation (titan has no drill expectation here)


def test_a_drill_is_expected_only_of_a_sponsor_with_a_scratch_server_and_the_other_says_so(
    installed, s3, moto_server, pg_admin_url, tmp_path
):
    """drill-yes has a scratch server of its own, drill-no none: alerts install expects a drill of the
    first only; status and doctor say "drills not configured" for the second, never "ok"."""
    server = installed[0]
    env = {"DRILL_YES_ARCHIVAL_DRILL_DATABASE_URL": pg_admin_url}
    for sponsor in ("drill-yes", "drill-no"):
        moto_server.make_buckets(
            f"hht-diary-backups-{sponsor}-eu-west-1", f"hht-diary-audit-logs-{sponsor}-eu-west-1"
        )
        prefix = sponsor.upper().replace("-", "_") + "_"
        env[f"{prefix}ENABLE_S3_BACKUP_ARCHIVAL"] = "true"
        env[f"{prefix}AWS_ACCESS_KEY_ID"] = env[f"{prefix}AWS_SECRET_ACCESS_KEY"] = "testing"
    manifest = tmp_path / "drills.yaml"
    manifest.write_text("sponsors:\n  - name: drill-yes\n  - name: drill-no\n")

    done = _cli(server, "alerts", "install", "--block", BLOCK, "--manifest", str(manifest), **env)

    assert done.returncode == 0, done.stderr
    assert (
        "  ✅ drill-yes (production): a successful archive expected every 26 h, a passing restore drill "
        "every 8 d\n  ✅ drill-no (production): a successful archive expected every 26 h; drills not "
        "configured (set DRILL_NO_ARCHIVAL_DRILL_DATABASE_URL), so no drill is expected\n"
    ) in done.stdout
    automations = api_request("POST", f"{server.api_url}/automations/filter", json={}).json()
    expected = sorted(a["name"] for a in automations if "-expected-drill-" in a["name"])
    assert expected == [
        "hht-alerts-archive-expected-drill-no-production",
        "hht-alerts-archive-expected-drill-yes-production",
        "hht-alerts-drill-expected-drill-yes-production",
    ]
    status = _cli(server, "status", "--manifest", str(manifest), "--json", **env)
    rows = {row["sponsor"]: row for row in json.loads(status.stdout)}
    print(f"\nstatus: {[(r['last_drill'], r['expectations']) for r in rows.values()]}")
    assert (
        rows["drill-no"]["last_drill"] == "drills not configured (set DRILL_NO_ARCHIVAL_DRILL_DATABASE_URL)"
    )
    assert rows["drill-no"]["expectations"] == "archive ok, drills not configured"
    assert rows["drill-yes"]["last_drill"] == "none recorded"  # and so never "drill ok" beside it:
    assert rows["drill-yes"]["expectations"].startswith("archive ok, drill due by ")
    assert rows["drill-yes"]["expectations"].endswith(" UTC (none yet)")
    doctor = _cli(server, "doctor", "--manifest", str(manifest), "--json", **env)
    checks = {(row["sponsor"], row["check"]): row for row in json.loads(doctor.stdout)}
    drills, alerts = checks[("drill-no", "restore drills")], checks[("drill-no", "alerts")]
    assert (drills["status"], alerts["status"]) == ("warn", "ok")
    assert drills["detail"].startswith(
        "drills not configured: set DRILL_NO_ARCHIVAL_DRILL_DATABASE_URL to the admin URL of a scratch "
        "PostgreSQL server (never production), or drill_database_url_secret in drill-no's sponsor block; "
    )
    assert alerts["detail"].startswith(
        "a successful archive expected every 26 h, no drill expected (drills not configured: set "
        "DRILL_NO_ARCHIVAL_DRILL_DATABASE_URL); "
    )
    assert checks[("drill-yes", "restore drills")]["status"] == "ok"
    assert checks[("drill-yes", "restore drills")]["detail"].startswith(
        f"scratch server {mask_url(pg_admin_url)} (from environment DRILL_YES_ARCHIVAL_DRILL_DATABASE_URL), "
        "PostgreSQL "
    )


def test_a_shrunken_backup_ends_anomalous_and_notifies_and_a_broken_chain_notifies(
    installed, receiver, s3, seeded_db, tmp_path
):
    server = installed[0]
    with psycopg.connect(seeded_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler (id int PRIMARY KEY, data text)")
        conn.execute(
            "INSERT INTO filler SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g"
        )
    assert _run(server, "production", seeded_db).returncode == 0
    _wait_until_prefect_recorded(server, _newest_log(tmp_path)["backup_location"])  # the next run's baseline
    with psycopg.connect(seeded_db, autocommit=True) as conn:
        conn.execute("DELETE FROM filler WHERE id > 6000")  # the bad migration

    done = _run(server, "production", seeded_db)

    assert done.returncode == 0, done.stderr  # nothing was lost
    assert "⚠️  Anomalous backup for sponsor titan (production): the backup is " in done.stdout
    assert "table public.filler has 6,000 rows, 60,000 in the previous backup (-90%" in done.stdout
    assert len([k for k in list_keys(s3, BACKUPS) if k.endswith(".sql.gz")]) == 2
    log = _newest_log(tmp_path)
    [run] = api_request(
        "POST",
        f"{server.api_url}/flow_runs/filter",
        json={"flow_runs": {"id": {"any_": [log["flow_run_id"]]}}},
    ).json()
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Anomalous")
    assert "table public.filler has 6,000 rows" in run["state"]["message"]
    [message] = receiver.wait_for(
        "❌ hht-archival titan (production): an anomalous backup was archived", timeout=WAIT
    )
    assert (
        "of the median of the previous 1 backup(s)" in message["body"] and "public.filler" in message["body"]
    )
    assert f"/runs/flow-run/{log['flow_run_id']}" in message["body"]
    previous = json.loads(log_files(tmp_path / "logs" / SPONSOR)[0].read_text())
    assert f"Last good backup: {previous['backup_location']} (" in message["body"]  # not the shrunken one

    status = _cli(server, "status", "--sponsor", SPONSOR, "--environment", "production", "--json")
    assert status.returncode == 1, status.stderr  # an open incident needs attention
    [row] = json.loads(status.stdout)
    assert row["location"] == log["backup_location"] and row["trend"].startswith("-")
    assert row["incidents"][0].startswith("archive anomalous since ")

    first_log = sorted(list_keys(s3, AUDIT))[0]
    s3.put_object(Bucket=AUDIT, Key=first_log, Body=b'{"status": "archived", "backup_size": 1}')  # tampered
    published = _cli(
        server, "status", "--sponsor", SPONSOR, "--environment", "production", "--publish", "--json"
    )
    rows = json.loads(published.stdout)

    [chain] = receiver.wait_for(
        "❌ hht-archival titan (production): the deployment logs' hash chain is broken"
    )
    assert f"{first_log} was changed after" in chain["body"]
    assert rows[0]["chain"].startswith("broken since ")
    artifacts = api_request(
        "POST",
        f"{server.api_url}/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["archive-status"]}}},
    ).json()
    assert any("titan (production)" in json.dumps(a["data"]) for a in artifacts)


def test_a_crashed_run_is_notified_with_a_link_to_it(installed, receiver):
    """Prefect's own notice of a crashed run, rendered by the server: the link needs the server's
    PREFECT_UI_URL (tests/support/prefectserver.py sets it, as docs/prefect-server.md says to)."""
    server = installed[0]
    flow = api_request("POST", f"{server.api_url}/flows/", json={"name": "archive-sponsor"}).json()
    started = {"flow_id": flow["id"], "name": "archive-titan-crashed", "state": {"type": "RUNNING"}}
    run = api_request("POST", f"{server.api_url}/flow_runs/", json=started).json()
    crashed = {"state": {"type": "CRASHED", "message": "the worker's process was killed"}, "force": True}
    api_request("POST", f"{server.api_url}/flow_runs/{run['id']}/set_state", json=crashed)

    [notice] = receiver.wait_for("❌ hht-archival archive-titan-crashed crashed", timeout=WAIT)

    assert "What is wrong: the run crashed: the worker's process was killed\n" in notice["body"]
    assert f"\nRun: {server.ui_url}/runs/flow-run/{run['id']}\n" in notice["body"]


_WITHOUT_A_UI_URL = """
import uuid
from prefect.server.events.jinja_filters import all_filters
from prefect.server.schemas.core import FlowRun
from prefect.server.schemas.states import Crashed
from prefect.server.utilities.user_templates import register_user_template_filters, render_user_template_sync
from hht_archival.alert_events import run_reference
from hht_archival.alerts import crashes

register_user_template_filters(all_filters)  # as the server's notification action does
run = FlowRun(id=uuid.UUID(int=7), name="archive-titan-staging", flow_id=uuid.uuid4(), state=Crashed())
notice = render_user_template_sync(crashes(uuid.uuid4()).actions[0].body, {"flow_run": run})
print([line for line in notice.splitlines() if line.startswith("Run: ")][0])
print("Run: " + run_reference())
"""


def test_a_message_without_a_ui_url_says_how_to_get_links_instead_of_none():
    """Without PREFECT_UI_URL (and no PREFECT_API_URL to infer it from), the crash notice the server
    renders and the messages our runs write name the run and the setting; neither says "None"."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_A_UI_URL],
        env={**env, "PREFECT__FLOW_RUN_ID": str(UUID(int=7))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    server_side, ours = done.stdout.splitlines()
    assert server_side == (
        f"Run: flow run {UUID(int=7)} (no link: the Prefect server has no PREFECT_UI_URL; set it to the UI's "
        "address where the server starts, docs/prefect-server.md)"
    )
    assert ours == (
        f"Run: flow run {UUID(int=7)} (no link: PREFECT_UI_URL is not set; set it to the Prefect UI's "
        "address, e.g. http://prefect.internal:4200, where the server and the workers start "
        "(docs/prefect-server.md))"
    )


def _wait_until_prefect_recorded(server, location: str, environment: str = "production") -> None:
    """Poll until the server holds the run's hht.archive.archived event (its persister writes in batches)."""
    timeout = WAIT
    deadline = time.monotonic() + timeout
    wanted = {
        "filter": {
            "event": {"name": ["hht.archive.archived"]},
            "resource": {"id": [f"hht.sponsor.{SPONSOR}.{environment}"]},
        },
        "limit": 10,
    }
    while time.monotonic() < deadline:
        events = api_request("POST", f"{server.api_url}/events/filter", json=wanted).json()["events"]
        if any(event["payload"].get("location") == location for event in events):
            return
        time.sleep(0.5)
    raise AssertionError(f"Prefect never recorded the archive of {location} within {timeout:g} s")


def test_alerts_need_a_server_and_a_notification_block_each_said_in_one_sentence(prefect_server, tmp_path):
    alone = run_cli("alerts", "install", "--block", BLOCK)
    assert alone.returncode == 2
    assert alone.stderr.strip() == (
        "❌ alerts install needs a Prefect server, where the automations, the notification block and the "
        "runs' events live; start one (prefect server start) and set PREFECT_API_URL to it, then run again."
    )
    missing = _cli(prefect_server, "alerts", "install", "--block", "slack-webhook/nobody")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (
        "❌ There is no block slack-webhook/nobody on the Prefect server; create the notification block "
        "first (docs/prefect-server.md: Alerts), then run alerts install again."
    )


@pytest.mark.parametrize(
    "argv", [["alerts", "--help"], ["alerts", "install", "--help"], ["status", "--help"]]
)
def test_help_has_an_example(argv):
    done = run_cli(*argv)
    assert done.returncode == 0 and "Example:" in done.stdout


def test_status_without_a_server_reads_the_archive_and_says_what_it_cannot_know(s3, tmp_path):
    done = run_cli("status", "--sponsor", SPONSOR, env={"ENABLE_S3_BACKUP_ARCHIVAL": "true"})
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.splitlines()
    assert header.split()[:3] == ["sponsor", "archival", "last"]
    assert line.startswith("titan (production)  enabled   none yet")
    assert "needs the Prefect server (PREFECT_API_URL)" in line


_ORDER_DIFFERS = """
import sys
a, b = "hht.incident.opened", "hht.incident.resolved"
sys.exit(0 if list({a, b}) != list({b, a}) else 3)
"""

_READ_BACK_COMPARED = """
from uuid import uuid4
from prefect.events.schemas.automations import AutomationCore
from hht_archival.alerts import relay
from hht_archival.alerts_install import _comparable

desired = relay(uuid4())
stored = desired.model_dump(mode="json")
results = []
for events in (stored["trigger"]["expect"], stored["trigger"]["expect"][::-1]):  # either process's order
    read_back = AutomationCore.model_validate({**stored, "trigger": {**stored["trigger"], "expect": events}})
    results.append("unchanged" if _comparable(read_back) == _comparable(desired) else "changed")
print(" ".join(results))
"""


def test_an_automation_read_back_with_its_events_in_another_order_is_unchanged():
    """Installing twice must not update an automation because a set came back in another order.

    String hashing is salted per process, and under a seed where the two
    events share a slot, a set's order follows how it was built: the copy read
    back from the server can list them in another order than the one built
    here. The first such seed shows it, with the server's list in either order.
    """
    seed = next(
        str(candidate)
        for candidate in range(2000)
        if subprocess.run(
            [sys.executable, "-c", _ORDER_DIFFERS], env={**os.environ, "PYTHONHASHSEED": str(candidate)}
        ).returncode
        == 0
    )
    compared = subprocess.run(
        [sys.executable, "-c", _READ_BACK_COMPARED],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )
    assert compared.stdout.split() == ["unchanged", "unchanged"], compared.stderr
