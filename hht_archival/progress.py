"""Messages meant for the person running the job, as well as for the Prefect UI.

They go through the run logger (so the UI shows them) with a marker the CLI's
console handler looks for, so the terminal shows these lines and not Prefect's
own chatter.
"""

from __future__ import annotations

from prefect.logging import get_run_logger

from hht_archival.console import CONSOLE_MARK


def announce(message: str, *args: object) -> None:
    get_run_logger().info(message, *args, extra={CONSOLE_MARK: True})


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
