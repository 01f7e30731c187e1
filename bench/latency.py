"""A WAN-like link for the benchmarks: a TCP proxy on loopback that delays
every chunk by a fixed time in each direction, keeping bandwidth.

Each direction of each connection is a pipe: a reader stamps every chunk
with the time it is due and queues it, a writer sends it when due. The
reader never waits for the writer (up to a bounded queue), so a stream keeps
its bandwidth and only gains the delay, as over a long fat link. A round
trip through the proxy costs twice the one-way delay.

    with LatencyProxy(("127.0.0.1", 5000), one_way=0.010) as proxy:
        ...  # talk to proxy.host ("127.0.0.1:PORT") instead
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Self

__all__ = ["LatencyProxy"]

_CHUNK = 64 * 1024
#: chunks in flight per direction: the bound on what the proxy holds
_QUEUED = 1024


class LatencyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``, each way ``one_way``
    seconds late. Runs its own event loop in a thread: ``start``/``stop``,
    or use it as a context manager."""

    def __init__(self, upstream: tuple[str, int], one_way: float) -> None:
        self.upstream = upstream
        self.one_way = one_way
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then the loop."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        """One connection, piped both ways; at shutdown (cancelled) it just
        closes, as asyncio's server callback would otherwise log the
        cancellation as an error."""
        writers = [client_w]
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
            writers.append(upstream_w)
            # the connection itself takes a round trip, as a TCP handshake does
            await asyncio.sleep(2 * self.one_way)
            await asyncio.gather(
                self._pipe(client_r, upstream_w),
                self._pipe(upstream_r, client_w),
                return_exceptions=True,
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in writers:
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy ``reader`` to ``writer``, every chunk ``one_way`` late."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED)

        async def send() -> None:
            while True:
                due, chunk = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while not sender.done() and (chunk := await reader.read(_CHUNK)):
                await queue.put((loop.time() + self.one_way, chunk))
            if not sender.done():
                await queue.put((loop.time() + self.one_way, b""))
            await sender
        except OSError:
            sender.cancel()
        finally:
            with contextlib.suppress(Exception):
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    writer.close()
