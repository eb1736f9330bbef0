"""stream: dump, compress and upload at once, joined by bounded pipes; a retry restarts all three.

With a second copy (blocks/second_copy.py), compress feeds two uploads
through a tee (hht_archival/adapters/tee.py, where the back-pressure policy
is): the second upload's failure ends only the second copy, never the stream.

Why one parent task: the three overlap (the archive takes about as long as
pg_dump alone, not the sum of the steps) and hold only the pipes' bytes in
memory and nothing on disk. They still show as their own task runs in the UI,
nested under this one. A stream cannot resume half-way (pg_dump cannot), so a
failure in any of them stops all three (pg_dump killed, the upload aborted), and
a retry of this task, for transient failures only, starts again from pg_dump;
nothing reaches the final key until a stream succeeds.

A stop (SIGINT, SIGTERM: hht_archival/stopping.py) fails the pipes as any
failure does, so the three end within seconds wherever they wait, and is
then what the stream raises, never retried.

A stage can also fail outside its own code: Prefect may be unable to start
it (its API gone while the task asks for its tag's concurrency slot) or to
record its end. Its pipes are then failed from here, as soon as its task run
ends, so the other two stop instead of waiting for bytes that never come.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from prefect.futures import wait
from prefect.runtime import task_run
from prefect.states import State

from blocks.config import SponsorConfig
from blocks.second_copy import at_copy
from hht_archival import stopping
from hht_archival.adapters.codecs import Compressed
from hht_archival.adapters.pg_dump import DumpResult
from hht_archival.adapters.pipe import BoundedPipe, keep_memory_flat, root_cause
from hht_archival.adapters.s3 import StreamUpload
from hht_archival.naming import RunNames
from hht_archival.record import StepRecord
from tasks import archival_task
from tasks.compress import compress
from tasks.dump import dump, dump_tags
from tasks.second_stream import SecondStream, second_copy_outcome, second_copy_sink, settle
from tasks.upload import upload

PIPE_CAPACITY = 8 * 1024 * 1024  # per pipe: enough to keep every stage busy, small enough to stay flat


@dataclass(frozen=True)
class Streamed:
    dumped: DumpResult
    packed: Compressed
    sent: StreamUpload
    steps: list[StepRecord]
    attempts: int  # 1, or more when the stream was restarted from pg_dump
    second: SecondStream | None = None  # the second copy's upload, where the sponsor has one


@archival_task(name="stream")
def archive_stream(config: SponsorConfig, names: RunNames) -> Streamed:
    suffix = f"{config.sponsor}-{config.environment}"
    keep_memory_flat()
    raw, packed = BoundedPipe(PIPE_CAPACITY), BoundedPipe(PIPE_CAPACITY)
    tee = second_copy_sink(config, packed)  # None: one copy; else compress feeds both uploads
    pipes = (raw, packed) if tee is None else (raw, packed, tee.second)
    dump_running = threading.Event()
    stages = {
        "dump": (dump, (config, raw, dump_running)),
        "compress": (compress, (config, raw, tee or packed)),
        "upload": (upload, (config, names, packed, tee)),
    }
    if tee is not None:
        stages["upload-copy2"] = (upload, (at_copy(config, 2), names, tee.second, tee))
    started = time.monotonic()
    futures = {}
    with stopping.on_stop(lambda stop: _fail_pipes(stop, *pipes)):
        try:
            stopping.check()
            for name, (stage, args) in stages.items():
                options = {"task_run_name": f"{name}-{suffix}", "retries": 0}
                if name == "dump":
                    options["tags"] = dump_tags()
                futures[name] = stage.with_options(**options).submit(*args)
                # The second copy's failure stops only the second copy; any other stops the stream.
                stops = (tee.second,) if name == "upload-copy2" else pipes
                futures[name].wrapped_future.add_done_callback(_abort_stream_on_failure(name, *stops))
                if name == "dump":
                    _wait_until_running(dump_running, futures[name])
            wait([future for name, future in futures.items() if name != "upload-copy2"])
            second = settle(tee, futures.pop("upload-copy2")) if tee is not None else None
        except stopping.RunStopped as stop:  # this thread was waiting here when the signal came
            _fail_pipes(stop, *pipes)
            wait(list(futures.values()))  # seconds: pg_dump is killed, the multipart upload aborted
            raise
    outcomes = {name: _outcome(future) for name, future in futures.items()}
    failures = [value for value in outcomes.values() if isinstance(value, BaseException)]
    if failures:
        stopping.check()  # a stop is the reason, whatever the stages made of it
        raise root_cause(failures)
    seconds = round(time.monotonic() - started, 3)
    return Streamed(
        dumped=outcomes["dump"],
        packed=outcomes["compress"],
        sent=outcomes["upload"],
        steps=[StepRecord(step="stream", seconds=seconds, detail=_detail(tee, outcomes))],
        attempts=task_run.run_count or 1,
        second=None if tee is None else second_copy_outcome(config, tee, second),
    )


def _detail(tee, outcomes: dict) -> str:
    """What the stream did, and the CPU seconds each part of it took (hht_archival/adapters/cpu.py)."""
    dumped, packed, sent = outcomes["dump"], outcomes["compress"], outcomes["upload"]
    cpu = [
        *([f"pg_dump {dumped.pg_dump_cpu:.2f}"] if dumped.pg_dump_cpu is not None else []),
        f"reading it {dumped.reader_cpu:.2f}",
        f"compress and SHA-256 {packed.cpu:.2f}",
        f"upload {sent.cpu:.2f}",
    ]
    cpu_text = f"CPU s: {', '.join(cpu)}"
    if tee is None:
        return f"dump | compress | upload, overlapped; {cpu_text}"
    waited = f"{tee.waited:.1f} s waited for the second"
    return f"dump | compress | upload to 2 copies, overlapped; {waited}; {cpu_text}"


def _fail_pipes(stop: BaseException, *pipes: BoundedPipe) -> None:
    """Stop every stage: the dump's pipe kills pg_dump, the upload's aborts the multipart upload."""
    for pipe in pipes:
        pipe.fail(stop)


class StageDidNotComplete(Exception):
    """A stage's task run ended without completing, though its own code raised nothing we saw."""


def _abort_stream_on_failure(name: str, *pipes: BoundedPipe):
    """A done-callback for a stage's future: fail every pipe unless the stage completed.

    It reads only the local future, never the Prefect API, so it works when the
    API is what failed. When the stage's own code raised, it has failed the
    pipes already with the real cause; the first error wins, so this is a no-op then.
    """

    def on_done(wrapped: Future) -> None:
        error = wrapped.exception()
        if error is None:
            state = wrapped.result()
            if isinstance(state, State) and not state.is_completed():
                error = StageDidNotComplete(f"the {name} task run ended {state.name}")
        if error is not None:
            for pipe in pipes:
                pipe.fail(error)

    return on_done


def _wait_until_running(running: threading.Event, future) -> None:
    """Wait until the dump's task run is running (its concurrency slot granted) or has ended.

    Why: the dump asks the Prefect API for its tag's concurrency slot as it
    starts. Created at the same moment as compress's and upload's task runs,
    that write collided with theirs on a SQLite-backed server (Prefect's
    default, and the embedded one), which answered 503, and Prefect's client
    waits 2 s before asking again: 2 s added to every archive. The dump's pipe
    holds its first 8 MiB meanwhile, so nothing else waits on this.
    """
    while not running.wait(0.01) and not future.wrapped_future.done():
        pass


def _outcome(future) -> object:
    """The stage's result, or the exception that ended it (also when Prefect could not run it at all)."""
    try:
        return future.result(raise_on_failure=False)
    except Exception as exc:
        return exc
