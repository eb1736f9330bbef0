"""Two kinds of failure, so that retries are spent only where waiting can help.

Every error a user can cause is an ``ArchivalError`` whose message is one
sentence: what went wrong, for which sponsor, and what to do. Layers add
context as the error rises; only the user-facing edge adds the remedy.
"""

from __future__ import annotations


class ArchivalError(Exception):
    """A failure that another attempt will not fix (bad input, wrong password, missing bucket)."""

    retryable = False


class ConfigError(ArchivalError):
    """Configuration is invalid; raised before any work starts."""


class TransientError(ArchivalError):
    """A failure that may pass (network, throttling, a server restarting): worth a retry."""

    retryable = True


def in_context(exc: ArchivalError, sentence: str) -> ArchivalError:
    """The caller's ``sentence`` (which quotes ``exc``) as an error of ``exc``'s own kind.

    How a layer adds what it knows (the sponsor, the remedy) to an adapter's
    clause without turning a transient failure into a permanent one, or back.
    """
    return type(exc)(sentence)


def is_retryable(exc: BaseException | None) -> bool:
    """Decide whether a task should spend a retry on ``exc``.

    Our own errors say so explicitly; anything else (an unexpected bug) is not
    retried, because repeating a bug only delays the one sentence the user needs.
    """
    return bool(getattr(exc, "retryable", False))


def one_sentence(exc: BaseException) -> str:
    """Return the user-facing sentence for ``exc``, never a traceback."""
    if isinstance(exc, ArchivalError):
        return str(exc)
    return f"Unexpected {type(exc).__name__}: {exc}. Run again with --debug and report the traceback."


def prefect_api_lost(exc: BaseException, whose: str, log_dir: object) -> str | None:
    """The sentence for a Prefect API that stopped answering mid-run, or None for any other error.

    One wording for the flow (which records it in the failed log) and the CLI (which
    prints it when the flow itself cannot finish), so the user reads the same thing.
    """
    lost = _prefect_api_error(exc)
    if lost is None:
        return None
    return (
        f"The Prefect API stopped answering during the run for {whose} ({type(lost).__name__}); "
        f"each sponsor's outcome is in its newest local log in {log_dir}, and nothing partial is at a final "
        "S3 key; check the Prefect server (PREFECT_API_URL) and run again if it failed."
    )


def _prefect_api_error(exc: BaseException) -> BaseException | None:
    """The HTTP error behind ``exc``, following causes: Prefect wraps some (a concurrency slot it could
    not acquire), and a stream reports the stage that could not start as the cause of its abort."""
    import httpx

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, httpx.HTTPError):
            return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__
    return None
