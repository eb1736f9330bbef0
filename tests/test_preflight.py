"""An enabled run finds what would stop it before any engine starts: its database URL, database, buckets.

Through the real command, from a HOME no Prefect has used and with no Prefect
server, as on a CI runner: each failure is one sentence on stderr with its exit
status, the failed local log holds the same sentence, and no engine started (no
`prefect.db` appears, and the server forked to import meanwhile is stopped).
The seconds each took are printed, never asserted.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from blocks.config import resolve_config
from hht_archival.adapters.postgres import database_url, mask_url
from hht_archival.iam import least_privilege_policy
from hht_archival.preflight import check_before_work
from tests.conftest import AUDIT, BACKUPS, SPONSOR, log_files, run_cli
from tests.support.iam_eval import allows
from tests.support.processes import left_behind
from tests.support.s3server import list_keys
from tests.test_iam_policy import iam_request

NO_OUTPUTS = "backup_location=not-configured\nbackup_size=0\n"
WHERE = "--sponsor titan --environment production"


@pytest.fixture
def fresh_home(tmp_path):
    """A HOME (and so a PREFECT_HOME) that no Prefect has used, as on a new CI runner."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "PREFECT_HOME": str(home / ".prefect")}


def _free_port() -> int:
    """A loopback port nothing listens on: bound once to learn it, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_enabled(what: str, env: dict[str, str], sponsor: str = SPONSOR):
    started = time.monotonic()
    done = run_cli("run", "--sponsor", sponsor, "--enable", env=env)
    print(f"\n{what}: exit {done.returncode} after {time.monotonic() - started:.1f} s")
    return done


def _failed_before_any_engine(done, code: int, sentence: str, tmp_path: Path, home: dict, sponsor=SPONSOR):
    """Exit ``code``, the one sentence, the failed log with it, the outputs, no traceback, no engine."""
    assert done.returncode == code, done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("❌")] == [f"❌ {sentence}"]
    assert "Traceback" not in done.stdout + done.stderr
    [path] = log_files(tmp_path / "logs" / sponsor)
    log = json.loads(path.read_text())
    assert (log["status"], log["error"], log["s3_archival_enabled"]) == ("failed", sentence, True)
    assert f"Local log (status: failed): {path}" in done.stderr
    assert NO_OUTPUTS in done.stdout
    assert not (Path(home["PREFECT_HOME"]) / "prefect.db").exists(), "a Prefect engine was started"
    # A run asked to archive forks its API's server to import while these checks run
    # (hht_archival/engine.py prepare_prefect_api): the refused run stopped it.
    assert left_behind(home["PREFECT_HOME"]) == [], "the server prepared for the run is still running"
    return log


def test_a_database_on_a_closed_port_fails_within_seconds_showing_each_attempt(
    s3, s3_proxy, tmp_path, fresh_home
):
    port = _free_port()
    done = _run_enabled(
        "closed port", {**fresh_home, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"}
    )

    _failed_before_any_engine(
        done,
        1,
        "The database for sponsor titan did not answer after 5 attempts within 5 s (connecting to "
        f"user=postgres dbname=postgres host=127.0.0.1 port={port} failed: Connection refused); check that "
        "the server in DATABASE_URL is running and reachable, then run again.",
        tmp_path,
        fresh_home,
    )
    attempts = [line for line in done.stdout.splitlines() if line.startswith("preflight: ")]
    assert attempts == [
        f"preflight: database for sponsor titan not reachable (Connection refused); attempt {n} of 5 in 1 s"
        for n in (2, 3, 4, 5)
    ]
    assert s3_proxy.requests == []  # the cheaper check failed first


def test_a_server_that_never_answers_is_given_up_on_within_the_budget(s3, tmp_path, fresh_home):
    """A port that accepts and then says nothing (a hung server, a black-holing firewall): each attempt
    waits the connect timeout, so fewer of them fit; the last still ends within the 5 s."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: libpq's startup packet is never answered
        port = silent.getsockname()[1]
        done = _run_enabled(
            "silent server",
            {**fresh_home, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/postgres"},
        )

    assert done.returncode == 1, done.stdout + done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("❌")]
    assert re.fullmatch(
        r"❌ The database for sponsor titan did not answer after (1 attempt|2 attempts) within 5 s "
        rf"\(connecting to user=postgres dbname=postgres host=127\.0\.0\.1 port={port} failed: "
        r"connection timeout expired\); check that the server in DATABASE_URL is running and reachable, "
        r"then run again\.",
        error,
    ), error
    assert "Traceback" not in done.stdout + done.stderr
    assert not (Path(fresh_home["PREFECT_HOME"]) / "prefect.db").exists()


def test_a_database_that_refuses_for_good_fails_at_the_first_attempt(s3, pg_admin_url, tmp_path, fresh_home):
    url = database_url(pg_admin_url, "hht_no_such_database")
    done = _run_enabled("missing database", {**fresh_home, "DATABASE_URL": url})

    _failed_before_any_engine(
        done,
        1,
        f"The database for sponsor titan could not be used (connecting to {mask_url(url)} failed: database "
        '"hht_no_such_database" does not exist); check the host, user, password and database name in '
        "DATABASE_URL.",
        tmp_path,
        fresh_home,
    )
    assert "preflight: " not in done.stdout  # no attempt after the first


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "postgresql://postgres:Sup3r-Secret@127.0.0.1:five432/postgres",
            "its port is not a number from 1 to 65535",
        ),
        ("postgresql://postgres:Sup3r-Secret@[::1/postgres", "it is not a PostgreSQL connection string"),
    ],
)
def test_a_malformed_database_url_is_one_sentence_without_its_password(
    url, problem, s3, s3_proxy, tmp_path, fresh_home
):
    done = _run_enabled(f"malformed URL ({problem})", {**fresh_home, "TITAN_DATABASE_URL": url})

    log = _failed_before_any_engine(
        done,
        2,
        f"TITAN_DATABASE_URL for sponsor titan is not a valid database URL ({problem}); write it as "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME.",
        tmp_path,
        fresh_home,
    )
    assert "Sup3r-Secret" not in done.stdout + done.stderr + json.dumps(log)
    assert s3_proxy.requests == []


def test_a_missing_bucket_is_named_with_the_command_that_creates_it(
    s3, s3_proxy, seeded_db, tmp_path, fresh_home
):
    s3.delete_bucket(Bucket=BACKUPS)
    done = _run_enabled("missing bucket", {**fresh_home, "DATABASE_URL": seeded_db})

    _failed_before_any_engine(
        done,
        2,
        f"Bucket {BACKUPS} (the default name) does not exist for sponsor titan; create it with hht-archival "
        f"provision {WHERE} (or correct the name), then check with hht-archival doctor {WHERE}.",
        tmp_path,
        fresh_home,
    )
    assert list_keys(s3, AUDIT) == []  # the audit bucket was asked about, not written to


def test_a_sponsor_without_buckets_hears_of_both_and_where_their_names_came_from(
    s3, seeded_db, tmp_path, fresh_home
):
    europa = {
        "EUROPA_DATABASE_URL": seeded_db,
        "EUROPA_AWS_ACCESS_KEY_ID": "testing",
        "EUROPA_AWS_SECRET_ACCESS_KEY": "testing",
        "EUROPA_SPONSOR_AUDIT_LOGS_BUCKET": "hht-europa-audit",
    }
    done = _run_enabled("a sponsor without buckets", {**fresh_home, **europa}, sponsor="europa")

    where = "--sponsor europa --environment production"
    _failed_before_any_engine(
        done,
        2,
        "Buckets hht-diary-backups-europa-eu-west-1 (the default name) and hht-europa-audit "
        "(EUROPA_SPONSOR_AUDIT_LOGS_BUCKET) do not exist for sponsor europa; create them with hht-archival "
        f"provision {where} (or correct the name), then check with hht-archival doctor {where}.",
        tmp_path,
        fresh_home,
        sponsor="europa",
    )


def test_no_aws_identity_at_all_says_how_to_give_the_sponsor_one(
    s3, seeded_db, tmp_path, fresh_home, monkeypatch
):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    done = _run_enabled("no AWS identity", {**fresh_home, "DATABASE_URL": seeded_db})

    _failed_before_any_engine(
        done,
        2,
        "No AWS identity was found for sponsor titan (no keys or profile in the environment, no instance or "
        "task role); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or name an "
        "AwsCredentials block in titan's sponsor block.",
        tmp_path,
        fresh_home,
    )


def test_a_healthy_enabled_run_is_checked_then_archives(s3, seeded_db, tmp_path):
    done = run_cli("run", "--sponsor", "titan", "--enable", env={"DATABASE_URL": seeded_db})

    assert done.returncode == 0, done.stdout + done.stderr
    [checked] = [line for line in done.stdout.splitlines() if line.startswith("preflight: ")]
    print(f"\n{checked}")
    assert checked.startswith("preflight: the database and both buckets answer for sponsor titan (")
    [path] = log_files(tmp_path / "logs" / SPONSOR)
    log = json.loads(path.read_text())
    assert log["status"] == "archived" and log["flow_run_id"]  # the archive went through Prefect
    assert done.stdout.count("preflight: ") == 1  # checked once: the flow took the command's check over


def test_what_the_check_asks_s3_is_allowed_by_the_archival_role(s3, s3_proxy, seeded_db, monkeypatch):
    """Whether each bucket has Object Lock, and nothing else: the role may not HeadBucket the backups."""
    monkeypatch.setenv("DATABASE_URL", seeded_db)
    said = []

    def say(message, *args):
        said.append(message % args)

    check_before_work(resolve_config(sponsor="titan", enabled=True), say)

    assert [(method, path, sorted(query)) for method, path, query in s3_proxy.requests] == [
        ("GET", f"/{BACKUPS}", ["object-lock"]),
        ("GET", f"/{AUDIT}", ["object-lock"]),
    ]
    policy = least_privilege_policy("titan", BACKUPS, AUDIT)
    asked = [pair for request in s3_proxy.requests for pair in iam_request(*request)]
    assert asked and all(allows(policy, action, arn) for action, arn in asked), asked
    assert len(said) == 1 and said[0].startswith("preflight: the database and both buckets answer")
