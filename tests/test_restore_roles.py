"""A backup restores where disaster recovery happens: a fresh cluster that has never seen its roles.

One database owned by an application role (tests/support/owneddb.py) is
archived once for the module; a throwaway cluster (initdb under a temp dir) is
the fresh target. Each test restores into a new database there and cleans up
the roles it left, so the cluster is fresh again for the next one.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ARCHIVAL_VARIABLES, AUDIT, AWS_ENV_UNSET, BACKUPS, run_cli
from tests.flowhelpers import get_tags, read_artifact, run_flow
from tests.support.owneddb import catalogue, make_owned
from tests.support.pgcluster import (
    ThrowawayCluster,
    create_database,
    drop_database,
    find_pg_bindir,
    seed_diary_database,
    table_snapshot,
)
from tests.support.s3server import aws_env, s3_client

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _key(location: str) -> str:
    return location.split("/", 3)[3]


@pytest.fixture(scope="module")
def source(pg_admin_url, moto_server, s3_proxy, prefect_harness, tmp_path_factory):
    """The owned database, archived once (fresh buckets); its roles are unique and dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    app, reader, name = f"hht_app_{suffix}", f"hht_ro_{suffix}", f"hht_owned_{suffix}"
    ident = sql.Identifier
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'not-archived-{}'").format(ident(app), sql.SQL(suffix))
        )
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident(reader)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(ident(reader), ident(app)))
    try:
        url = create_database(pg_admin_url, name)
        seed_diary_database(url)
        make_owned(url, app, reader)
        moto_server.reset()
        moto_server.make_buckets(BACKUPS, AUDIT)
        with pytest.MonkeyPatch.context() as env:
            for variable in ARCHIVAL_VARIABLES + AWS_ENV_UNSET:
                env.delenv(variable, raising=False)
            for variable, value in aws_env(s3_proxy.endpoint).items():
                env.setenv(variable, value)
            env.setenv("ARCHIVAL_LOG_DIR", str(tmp_path_factory.mktemp("logs")))
            env.setenv("SPONSOR", "titan")  # the unprefixed DATABASE_URL is titan's
            env.setenv("DATABASE_URL", url)
            log, _ = run_flow(sponsor="titan", enabled=True)
        assert log["status"] == "archived", log
        yield {
            "url": url,
            "app": app,
            "reader": reader,
            "log": log,
            "snapshot": table_snapshot(url),
            "catalogue": catalogue(url),
        }
    finally:
        drop_database(pg_admin_url, name)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            for role in (reader, app):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident(role)))


@pytest.fixture(scope="module")
def fresh():
    """A cluster just initdb-ed: it knows only its bootstrap superuser."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb) are not installed")
    with ThrowawayCluster(auth="trust") as cluster:
        yield cluster


@pytest.fixture
def target(fresh):
    """A new database on the fresh cluster; afterwards it and every role created since initdb go."""
    with psycopg.connect(fresh.url(), autocommit=True) as conn:
        initial = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
    name = f"restored_{uuid.uuid4().hex[:8]}"
    yield create_database(fresh.url(), name)
    drop_database(fresh.url(), name)
    with psycopg.connect(fresh.url(), autocommit=True) as conn:
        for (role,) in conn.execute("SELECT rolname FROM pg_roles").fetchall():
            if role not in initial:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _roles_on(url: str) -> dict[str, bool]:
    """{role: can log in} for every role of the cluster."""
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT rolname, rolcanlogin FROM pg_roles").fetchall())


def _quicklook(fresh, target: str) -> str:
    """A user who is no superuser and cannot create roles, owning the target database."""
    database = target.rsplit("/", 1)[1]
    with psycopg.connect(fresh.url(), autocommit=True) as conn:
        conn.execute("CREATE ROLE quicklook LOGIN")
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO quicklook").format(sql.Identifier(database)))
    return f"postgresql://quicklook@{fresh.host}:{fresh.port}/{database}"


def test_the_roles_object_holds_every_role_the_dump_names_and_no_password(source, moto_server):
    s3 = s3_client(moto_server.endpoint)
    log = source["log"]
    body = s3.get_object(Bucket=BACKUPS, Key=_key(log["roles_location"]))["Body"].read()
    document = json.loads(body)
    roles = {role["name"]: role for role in document["roles"]}

    assert sorted(roles) == sorted([source["app"], source["reader"]])
    assert "owner" in roles[source["app"]]["referenced_as"] and roles[source["app"]]["login"] is True
    assert roles[source["reader"]]["referenced_as"] == ["privileges"]
    assert document["memberships"] == [
        {"role": source["reader"], "member": source["app"], "admin_option": False}
    ]
    assert document["password_hashes"] is False and b'"password_hash":' not in body and b"SCRAM" not in body
    assert get_tags(s3, BACKUPS, _key(log["roles_location"]))["sha256"] == log["roles_sha256"]

    dump = gzip.decompress(s3.get_object(Bucket=BACKUPS, Key=_key(log["backup_location"]))["Body"].read())
    named = set(re.findall(rb"^ALTER .* OWNER TO (\S+);$", dump, re.M))
    named |= set(re.findall(rb"^(?:GRANT|REVOKE) .* (?:TO|FROM) (\S+);$", dump, re.M))
    named |= set(re.findall(rb"^ALTER DEFAULT PRIVILEGES FOR ROLE (\S+) ", dump, re.M))
    decoys = {"CURRENT_USER", "PUBLIC;'", "nobody"}  # in a function body, a comment and a row: not roles
    named = {n.decode() for n in named} - {"PUBLIC"} - decoys
    assert named and named <= set(roles) | {"pg_database_owner"}, named - set(roles)


def test_a_restore_into_a_fresh_cluster_creates_the_roles_and_brings_back_owners_and_grants(
    source, fresh, target
):
    app, reader = source["app"], source["reader"]
    backup = _key(source["log"]["backup_location"])

    done = run_cli("restore", "--sponsor", "titan", "--backup", backup, env={"RESTORE_TARGET_URL": target})

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created 2 (NOLOGIN): {', '.join(sorted([app, reader]))}" in done.stdout
    assert "left as they were" not in done.stdout
    assert table_snapshot(target) == source["snapshot"]
    assert catalogue(target) == source["catalogue"]  # owners, ACLs, routines, triggers, large object
    with psycopg.connect(target) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'diary_entries'").fetchone()[
            0
        ]
        reads = conn.execute("SELECT has_table_privilege(%s, 'public.diary_entries', 'SELECT')", (reader,))
        assert (owner, reads.fetchone()[0]) == (app, True)
        assert conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (app, reader)).fetchone()[0]
    assert _roles_on(target)[app] is False  # NOLOGIN: a recovery server opens no way in by itself


def test_the_drill_passes_on_a_scratch_server_that_never_saw_the_roles(source, fresh, monkeypatch):
    from flows.restore_drill import restore_drill

    monkeypatch.setenv("ARCHIVAL_DRILL_DATABASE_URL", fresh.url())
    state = restore_drill(sponsor="titan", backup=_key(source["log"]["backup_location"]), return_state=True)

    report = state.result()
    created = sorted([source["app"], source["reader"]])
    assert report["status"] == "passed" and report["differences"] == [], report["error"]
    assert report["roles_created"] == report["roles_dropped"] == created
    assert report["tables"]["public.readings_2024"] == 100
    assert not set(created) & set(_roles_on(fresh.url()))  # the scratch server is left as it was
    artifact = read_artifact("restore-drill-titan-production", state.state_details.flow_run_id)
    assert f"created 2 (NOLOGIN): {', '.join(created)}" in artifact.data


def test_no_owner_gives_every_object_to_the_restoring_user(source, fresh, target):
    quicklook = _quicklook(fresh, target)
    backup = _key(source["log"]["backup_location"])

    done = run_cli(
        "restore",
        "--sponsor",
        "titan",
        "--backup",
        backup,
        "--no-owner",
        env={"RESTORE_TARGET_URL": quicklook},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "every object belongs to quicklook" in done.stdout
    assert table_snapshot(target) == source["snapshot"]  # sql_log's rows that read like GRANTs included
    restored = catalogue(target)
    assert {owner for _, _, owner, _ in restored["relations"]} == {"quicklook"}
    assert {owner for _, owner, _ in restored["large_objects"]} == {"quicklook"}
    assert [(name, src) for name, _, src in restored["routines"]] == [
        (name, src) for name, _, src in source["catalogue"]["routines"]
    ]  # a body line that reads like ALTER ... OWNER TO is code, not a statement to drop
    assert restored["comments"] == source["catalogue"]["comments"]
    assert not {source["app"], source["reader"]} & set(_roles_on(target))


def test_a_target_that_cannot_take_the_owners_is_refused_before_any_table(source, fresh, target):
    quicklook = _quicklook(fresh, target)
    backup = _key(source["log"]["backup_location"])

    done = run_cli("restore", "--sponsor", "titan", "--backup", backup, env={"RESTORE_TARGET_URL": quicklook})

    assert done.returncode == 1
    missing = ", ".join([source["app"], source["reader"]])
    assert done.stderr.strip() == (
        f"❌ The target user=quicklook dbname={target.rsplit('/', 1)[1]} host={fresh.host} port={fresh.port} "
        f"cannot take sponsor titan's backup with its owners: user quicklook is not a superuser and cannot "
        f"create the missing role(s) {missing}; restore as a superuser there, or pass --no-owner to give "
        "every object to quicklook."
    )
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


def test_a_backup_archived_before_roles_were_still_restores_and_says_what_to_do(source, moto_server, target):
    s3 = s3_client(moto_server.endpoint)
    old = "backups/2025/01/12/backup-prod-20250112-143000.sql.gz"  # a copy, tags and all, without roles
    s3.copy_object(
        Bucket=BACKUPS, Key=old, CopySource={"Bucket": BACKUPS, "Key": _key(source["log"]["backup_location"])}
    )

    listed = run_cli("list", "--sponsor", "titan")
    refused = run_cli("restore", "--sponsor", "titan", "--backup", old, env={"RESTORE_TARGET_URL": target})
    looked = run_cli(
        "restore", "--sponsor", "titan", "--backup", old, "--no-owner", env={"RESTORE_TARGET_URL": target}
    )

    assert "roles: none archived with this backup" in listed.stdout
    assert f"sha256 {source['log']['roles_sha256']}  {_key(source['log']['roles_location'])}" in listed.stdout
    assert refused.returncode == 1
    assert f'and was rolled back: ERROR:  role "{source["app"]}" does not exist' in refused.stderr
    assert "this backup was archived without its roles, so create role" in refused.stderr
    assert "first, or pass --no-owner" in refused.stderr
    assert looked.returncode == 0, looked.stderr
    assert table_snapshot(target) == source["snapshot"]


def test_password_hashes_are_archived_only_when_asked_and_then_let_the_recovered_role_log_in(
    source, pg_admin_url, moto_server, target, monkeypatch
):
    app = source["app"]
    with psycopg.connect(pg_admin_url) as conn:
        hashed = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (app,)).fetchone()[0]
    monkeypatch.setenv("DATABASE_URL", source["url"])
    monkeypatch.setenv("ARCHIVAL_ROLE_PASSWORDS", "true")
    log, _ = run_flow(sponsor="titan", enabled=True)
    assert log["status"] == "archived", log

    s3 = s3_client(moto_server.endpoint)
    roles_key = _key(log["roles_location"])
    document = json.loads(s3.get_object(Bucket=BACKUPS, Key=roles_key)["Body"].read())
    assert document["password_hashes"] is True
    assert {r["name"]: r["password_hash"] for r in document["roles"]}[app] == hashed
    assert get_tags(s3, BACKUPS, roles_key)["password-hashes"] == "true"
    assert hashed not in json.dumps(log) and hashed not in document["sql"]

    done = run_cli(
        "restore",
        "--sponsor",
        "titan",
        "--backup",
        _key(log["backup_location"]),
        "--login-roles",
        env={"RESTORE_TARGET_URL": target},
    )
    assert done.returncode == 0, done.stderr
    assert "(LOGIN as archived)" in done.stdout and hashed not in done.stdout + done.stderr
    with psycopg.connect(target) as conn:
        restored = conn.execute(
            "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", (app,)
        ).fetchone()
    assert restored == (True, hashed)


def test_asking_for_password_hashes_without_the_right_to_read_them_is_one_sentence(source):
    from hht_archival.adapters.pg_roles import read_roles
    from hht_archival.errors import ConfigError

    as_app = psycopg.conninfo.make_conninfo(source["url"], user=source["app"], password=None)
    with psycopg.connect(as_app) as conn, pytest.raises(ConfigError) as refused:
        read_roles(conn, "titan", with_passwords=True)
    assert str(refused.value) == (
        "ARCHIVAL_ROLE_PASSWORDS is on for sponsor titan, but the user in DATABASE_URL cannot read role "
        "password hashes (pg_authid needs a superuser); dump as a superuser, or unset "
        "ARCHIVAL_ROLE_PASSWORDS to archive the roles without them."
    )
