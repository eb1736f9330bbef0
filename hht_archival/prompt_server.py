"""uvicorn's server for the embedded API, stopped as soon as it is told to.

Why: the command waits for its API's server to stop at the end of every run
(engine.EmbeddedApi.stop), and uvicorn spends about 0.2 s of that asleep: it
notices a SIGTERM at its next 0.1 s tick, then pauses another 0.1 s for open
connections to finish, even when none is open. Here the signal wakes the
loop at once and the pause is kept for a connection still open. Everything
else is uvicorn's own: the application's shutdown (Prefect's services
finishing their work) runs in full, and the captured SIGTERM is raised
again at the end, as uvicorn does.

Imported only in the server's process (forked_server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import uvicorn

_STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start


class PromptServer(uvicorn.Server):
    _woken: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._woken is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """uvicorn's shutdown, without its pause where every connection closed when asked."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0)  # an idle keep-alive connection has closed by now
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)  # uvicorn's wait for them (closing again changes nothing)
            return
        if not self.force_exit:
            await self.lifespan.shutdown()


def serve(application: Any, port: int) -> None:
    """Serve ``application`` on 127.0.0.1:``port`` as ``uvicorn.run`` would; exit 3 if it cannot start."""
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    server = PromptServer(config)
    server.run()
    if not server.started:
        sys.exit(_STARTUP_FAILURE)
