"""What an enabled run checks before any engine starts: the database URL, the database, both buckets.

Why: a run whose database is down, whose URL is malformed or whose bucket is
missing used to learn it only after Prefect's engine had started and its tasks
had retried with back-off, a minute and more for one sentence that was true
from the start. ``check_before_work`` finds these in a few seconds, cheapest
first: the URL is parsed (no network), the database is connected to (a short
retry of its own within ``BUDGET_SECONDS``, as a restarting server answers
within seconds), then each bucket is asked whether it has Object Lock: a call
the archival role may already make on both buckets (hht_archival/iam.py; it
may not HeadBucket the backups bucket, which needs s3:ListBucket), which
answers NoSuchBucket for a missing bucket and needs the sponsor's identity.

Why the sentences end with the remedy here, where adapters only add context:
this is called by the two edges that start a run, the CLI before it starts an
engine and the archive-sponsor flow first thing (``say=progress.announce``),
and both record the sentence as the failed log's error. Nothing here imports
Prefect, so the CLI's failure costs no engine start.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from blocks.binding import identity_remedy
from blocks.config import SponsorConfig
from hht_archival import stopping
from hht_archival.adapters.postgres import connected, mask_url, url_problem
from hht_archival.errors import ArchivalError, ConfigError, TransientError

BUDGET_SECONDS = 5.0  # an unreachable database is reported within this
CONNECT_TIMEOUT_SECONDS = 2  # each attempt's; libpq's smallest
RETRY_DELAY_SECONDS = 1.0
MAX_ATTEMPTS = 5  # a refused port: 0, 1, 2, 3 and 4 s; a silent server: 0-2 s and 3-5 s
_SLACK_SECONDS = 0.1  # a silent server's attempt lasts a hair over its timeout: it still gets its second
_NO_IDENTITY = {"NoCredentialsError", "PartialCredentialsError"}

Say = Callable[..., None]  # say(message, *args), %-style like a logger


def check_before_work(config: SponsorConfig, say: Say) -> None:
    """Raise the one sentence for what would stop this enabled run, before any work; ``say`` the progress.

    ``ConfigError`` is bad input (a malformed URL, a missing bucket, no cloud
    identity), ``TransientError`` a database that did not answer within the
    budget, ``ArchivalError`` anything else the database or S3 refused.
    """
    started = time.monotonic()
    config.require_archivable()  # the settings bound to another sponsor, if the caller has not checked
    url = _parsed_url(config)
    _database_answers(config, url, say)
    _buckets_answer(config)
    say(
        "preflight: the database and both buckets answer for sponsor %s (%.1f s)",
        config.sponsor,
        time.monotonic() - started,
    )


def hand_over(config: SponsorConfig) -> None:
    """The CLI checked before starting the engine: the flow it runs next, in this process, need not again."""
    _handed_over[_key(config)] = time.monotonic()


def handed_over(config: SponsorConfig) -> bool:
    """Whether this run's check was just made for it (once: a later run in this process checks again)."""
    return time.monotonic() - _handed_over.pop(_key(config), -HAND_OVER_SECONDS) < HAND_OVER_SECONDS


HAND_OVER_SECONDS = 60.0
_handed_over: dict[tuple, float] = {}


def _key(config: SponsorConfig) -> tuple:
    url = config.database_url.get_secret_value() if config.database_url else None
    return (config.sponsor, config.environment, url, config.backups_bucket, config.audit_logs_bucket)


def _parsed_url(config: SponsorConfig) -> str:
    url = config.database_url.get_secret_value()
    problem = url_problem(url)
    if problem:
        raise ConfigError(
            f"{_url_setting(config)} for sponsor {config.sponsor} is not a valid database URL ({problem}); "
            "write it as postgresql://USER:PASSWORD@HOST:PORT/DBNAME."
        )
    return url


def _database_answers(config: SponsorConfig, url: str, say: Say) -> None:
    """Connect, retrying what may pass while another attempt still fits the budget.

    How many more attempts fit is counted from the slowest one so far, so a
    refused port (milliseconds) gets ``MAX_ATTEMPTS`` and a silent host (the
    connect timeout each) two, and the last one still ends within the budget.
    """
    doing = f"connecting to {mask_url(url)}"
    deadline = time.monotonic() + BUDGET_SECONDS
    slowest, attempt = 0.0, 0
    while True:
        attempt += 1
        began = time.monotonic()
        try:
            with connected(url, doing, timeout=CONNECT_TIMEOUT_SECONDS):
                return
        except TransientError as exc:
            failure = exc
        except ArchivalError as exc:  # a wrong password, a missing database or role: waiting will not help
            raise ArchivalError(
                f"The database for sponsor {config.sponsor} could not be used ({exc}); check the host, "
                f"user, password and database name in {_url_setting(config)}."
            ) from None
        now = time.monotonic()
        slowest = max(slowest, now - began)
        fit = int((deadline - now + _SLACK_SECONDS) // (RETRY_DELAY_SECONDS + slowest))
        more = min(MAX_ATTEMPTS - attempt, fit)
        if more < 1:
            raise TransientError(
                f"The database for sponsor {config.sponsor} did not answer after {attempt} "
                f"attempt{'s' if attempt > 1 else ''} within {BUDGET_SECONDS:.0f} s ({failure}); check that "
                f"the server in {_url_setting(config)} is running and reachable, then run again."
            ) from None
        reason = str(failure).rpartition(" failed: ")[2]
        say(
            "preflight: database for sponsor %s not reachable (%s); attempt %d of %d in %.0f s",
            config.sponsor,
            reason,
            attempt + 1,
            attempt + more,
            RETRY_DELAY_SECONDS,
        )
        stopping.sleep(RETRY_DELAY_SECONDS)


def _buckets_answer(config: SponsorConfig) -> None:
    """Both buckets exist and the sponsor's identity may ask them about Object Lock."""
    from hht_archival.adapters.s3_client import client_for
    from hht_archival.adapters.s3_errors import refusal
    from hht_archival.adapters.s3_objects import lock_default

    client = client_for(config)
    missing = []
    for bucket in dict.fromkeys((config.backups_bucket, config.audit_logs_bucket)):
        try:
            lock_default(client, bucket, config.sponsor)
        except ArchivalError as exc:
            code = (refusal(exc) or ("", ""))[1]
            if code == "NoSuchBucket":
                missing.append(bucket)
                continue
            if code in _NO_IDENTITY:
                raise ConfigError(
                    f"No AWS identity was found for sponsor {config.sponsor} (no keys or profile in the "
                    f"environment, no instance or task role); {identity_remedy(config.sponsor)}."
                ) from None
            raise
    if missing:
        raise ConfigError(_missing_buckets(config, missing))


def _missing_buckets(config: SponsorConfig, missing: list[str]) -> str:
    named = " and ".join(f"{bucket} ({_bucket_setting(config, bucket)})" for bucket in missing)
    which = "it" if len(missing) == 1 else "them"
    where = f"--sponsor {config.sponsor} --environment {config.environment}"
    return (
        f"{'Bucket' if len(missing) == 1 else 'Buckets'} {named} {'does' if len(missing) == 1 else 'do'} "
        f"not exist for sponsor {config.sponsor}; create {which} with hht-archival provision {where} "
        f"(or correct the name), then check with hht-archival doctor {where}."
    )


def _url_setting(config: SponsorConfig) -> str:
    """Where the database URL was set, as the user names it: DATABASE_URL, TITAN_DATABASE_URL, a block's."""
    source = config.sources.get("database", "")
    if source.startswith("environment "):
        return source.removeprefix("environment ")
    return f"the database URL of {source}" if source else "DATABASE_URL"


def _bucket_setting(config: SponsorConfig, bucket: str) -> str:
    """Where a bucket's name came from: its variable, a block, the manifest, or the default name."""
    setting = "backups_bucket" if bucket == config.backups_bucket else "audit_logs_bucket"
    source = config.sources.get(setting, "default")
    if source == "default":
        return "the default name"
    return source.removeprefix("environment ")
