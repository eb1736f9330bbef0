"""The archive lock, held in the sponsor's own PostgreSQL: exclusive, visible, and never outliving its run.

What a user relies on: a second run waits and says for whom; a run whose
process died frees the lock at once; a run whose machine was lost frees it
within the lease the docs state (ARCHIVAL_LOCK_LEASE_SECONDS). The lost
machine is real: the holder runs in a network namespace of its own whose link
is cut, so its database session can only end by PostgreSQL's keepalives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest

from hht_archival.adapters.pg_lock import NAMESPACE, Holder, LockHeld, archive_lock, lock_key, read_holder
from tests.support.pgcluster import ThrowawayCluster, find_pg_bindir

HOLDER = Holder(run="archive-titan-production", run_id="1f0e", host="worker-a", pid="4242", started="T0")


def _hold(url: str, sponsor: str, environment: str, holder: Holder = HOLDER, **kwargs):
    return archive_lock(
        url, sponsor, environment, wait_seconds=kwargs.pop("wait_seconds", 0), lease_seconds=60,
        holder=holder, say=kwargs.pop("say", lambda *a: None),
    )  # fmt: skip


def test_a_second_run_waits_saying_who_holds_the_lock_then_gives_up_naming_the_session(seeded_db):
    said: list[str] = []
    sponsor = f"lk{uuid.uuid4().hex[:6]}"
    with _hold(seeded_db, sponsor, "production"):
        other = Holder(run="archive-x", run_id="2", host="ci", pid="7", started="T1")
        with pytest.raises(LockHeld) as refused:
            with _hold(seeded_db, sponsor, "production", other, wait_seconds=1.5,
                       say=lambda message, *args: said.append(message % args)):  # fmt: skip
                pytest.fail("two runs held one sponsor's lock")
        holder = read_holder(seeded_db, sponsor, "production")
        with _hold(seeded_db, sponsor, "staging"):  # another environment is another lock
            pass
    sentence = str(refused.value)
    assert sentence.startswith(
        f"Another run of sponsor {sponsor} (production) (run archive-titan-production (1f0e) on host "
        "worker-a (pid 4242), started at T0) held the archive lock for more than 2 s; wait for it to finish"
    )
    assert sentence.endswith(f"SELECT pg_terminate_backend({holder.session_pid})).")
    assert said and said[0].startswith(
        f"Waiting for the archive lock of sponsor {sponsor} (production): held by run "
        "archive-titan-production (1f0e) on host worker-a"
    )
    assert (holder.run, holder.host, holder.pid) == ("archive-titan-production", "worker-a", "4242")
    assert read_holder(seeded_db, sponsor, "production") is None  # released on leaving


def test_a_dead_holder_process_frees_the_lock_at_once(seeded_db):
    """kill -9 of the holding process: its kernel closes the socket, PostgreSQL ends the session."""
    sponsor = f"lk{uuid.uuid4().hex[:6]}"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER_SCRIPT, seeded_db, sponsor],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    assert read_holder(seeded_db, sponsor, "production") is not None
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with _hold(seeded_db, sponsor, "production", wait_seconds=10):  # would raise LockHeld if still held
        print(f"\nlock taken {time.monotonic() - started:.2f} s after the holder was killed")


_HOLDER_SCRIPT = """
import sys, time
from hht_archival.adapters.pg_lock import Holder, archive_lock
url, sponsor = sys.argv[1], sys.argv[2]
lease = float(sys.argv[3]) if len(sys.argv) > 3 else 60
holder = Holder(run="lost-run", run_id="9", host="lost-host", pid="1", started="T")
with archive_lock(url, sponsor, "production", wait_seconds=0, lease_seconds=lease, holder=holder,
                  say=lambda *a: None):
    print("held", flush=True)
    time.sleep(3600)
"""


class _ClusterOnLink(ThrowawayCluster):
    """A throwaway cluster listening on a veth address, trusting the far end of the link."""

    def __init__(self, host: str, peer_net: str) -> None:
        super().__init__(auth="trust")
        self.host = host
        self.peer_net = peer_net

    def _initdb(self) -> None:
        super()._initdb()
        with (self.datadir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {self.peer_net} trust\n")


@pytest.fixture
def lost_machine_link():
    """A network namespace (the worker machine) joined to this host by a veth pair; cut on demand."""
    if os.geteuid() != 0 or shutil.which("ip") is None or find_pg_bindir() is None:
        pytest.skip("a network namespace needs root, iproute2 and PostgreSQL's server binaries")
    tag = uuid.uuid4().hex[:6]
    ns, here, there = f"hht-lost-{tag}", f"hhth{tag}", f"hhtn{tag}"
    octet = 100 + int(tag[:2], 16) % 100
    host_ip, ns_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"

    def ip(*args: str, netns: str | None = None) -> None:
        command = ["ip", "netns", "exec", netns, "ip", *args] if netns else ["ip", *args]
        subprocess.run(command, check=True, capture_output=True)

    try:
        ip("netns", "add", ns)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"network namespaces are not available here: {exc.stderr.decode().strip()}")
    try:
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", ns)
        ip("addr", "add", f"{host_ip}/30", "dev", here)
        ip("link", "set", here, "up")
        ip("addr", "add", f"{ns_ip}/30", "dev", there, netns=ns)
        ip("link", "set", there, "up", netns=ns)
        ip("link", "set", "lo", "up", netns=ns)
        yield {"ns": ns, "host_ip": host_ip, "net": f"{host_ip[:-1]}0/30",
               # Its address gone, nothing answers there: packets to it leave this host and vanish,
               # as they do for a machine that lost power (a link set down would fail them locally).
               "cut": lambda: ip("addr", "flush", "dev", there, netns=ns)}  # fmt: skip
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_lost_machines_lock_is_freed_within_the_lease(lost_machine_link):
    """The holder's machine vanishes (its link cut, the process frozen): freed by keepalives, not never."""
    lease = 6
    with _ClusterOnLink(lost_machine_link["host_ip"], lost_machine_link["net"]) as cluster:
        url = cluster.url()
        holder = subprocess.Popen(
            ["ip", "netns", "exec", lost_machine_link["ns"], sys.executable, "-c", _HOLDER_SCRIPT, url,
             "titan", str(lease)],
            stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )  # fmt: skip
        try:
            assert holder.stdout.readline().strip() == "held"
            seen = read_holder(url, "titan", "production")
            assert seen is not None and seen.host == "lost-host"
            lost_machine_link["cut"]()
            os.kill(holder.pid, signal.SIGSTOP)  # nothing on the lost machine answers any more
            cut = time.monotonic()
            # Waiting up to five leases: without the lock session's keepalives the server would keep a
            # silent peer's session (and its lock) for the kernel's default of over two hours.
            with _hold(url, "titan", "production", wait_seconds=5 * lease):
                waited = time.monotonic() - cut
            print(f"\nlost machine's lock freed {waited:.1f} s after its link was cut (lease {lease} s)")
        finally:
            holder.kill()
            holder.wait()


def test_the_lock_is_per_sponsor_and_environment_and_shows_in_pg_locks(seeded_db):
    assert lock_key("titan", "production") == lock_key("titan", "production")
    assert len({lock_key(s, e) for s in ("titan", "callisto") for e in ("production", "staging")}) == 4
    with _hold(seeded_db, "titan", "dev"), psycopg.connect(seeded_db) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.classid::bigint = %s AND l.objid::bigint = %s",
            (NAMESPACE, lock_key("titan", "dev")),
        ).fetchone()
    assert row == ("hht-archival lock",)


def test_a_wait_for_the_lock_ends_at_once_when_the_run_is_stopped(seeded_db):
    from hht_archival import stopping

    sponsor = f"lk{uuid.uuid4().hex[:6]}"
    outcome: list[BaseException] = []

    def wait_for_it():
        try:
            with _hold(seeded_db, sponsor, "production", wait_seconds=600):
                pass
        except BaseException as exc:  # what the waiting run sees
            outcome.append(exc)

    with _hold(seeded_db, sponsor, "production"):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(1.5)
        try:
            stopping.request_stop(signal.SIGTERM)  # as the handler does, minus raising here
            waiter.join(10)
        finally:
            stopping.reset_for_tests()
    assert not waiter.is_alive()
    assert [type(e).__name__ for e in outcome] == ["RunStopped"] and str(outcome[0]) == "stopped by SIGTERM"
