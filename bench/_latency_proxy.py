"""A TCP proxy that adds network latency: a database on another machine, simulated locally.

Every chunk read from either side is forwarded `rtt_ms / 2` later (in order, without throttling
bandwidth), so each request/reply round trip costs `rtt_ms` more than over loopback. Also the
PostgreSQL options and runs shared by the storage benchmarks (bookkeeping.py, move.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator


class LatencyProxy:
    """`with LatencyProxy("127.0.0.1", 5432, rtt_ms=2) as port:` → connect to 127.0.0.1:port."""

    def __init__(self, host: str, port: int, rtt_ms: float) -> None:
        self.target, self.delay_s = (host, port), rtt_ms / 2000.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="latency-proxy", daemon=True)

    def __enter__(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        except asyncio.CancelledError:  # the proxy closes with the client still connected: ends quietly
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay_s, data))
            queue.put_nowait((0.0, b""))
            await sender
        finally:
            sender.cancel()


@contextlib.contextmanager
def through_proxy(url: str, rtt_ms: float) -> Iterator[str]:
    """The PostgreSQL `url` reached through a LatencyProxy that adds `rtt_ms` to each round trip."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with LatencyProxy(u.host or "127.0.0.1", u.port or 5432, rtt_ms) as port:
        yield u.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def add_postgres_args(parser: argparse.ArgumentParser) -> None:
    """`--rtt-ms` and `--postgres` (default `$OPTGAN_TEST_POSTGRES_URL`)."""
    parser.add_argument("--rtt-ms", type=float, default=2.0, help="added round-trip latency for PostgreSQL")
    parser.add_argument("--postgres", default=os.environ.get("OPTGAN_TEST_POSTGRES_URL"))


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "loadavg_1min": round(os.getloadavg()[0], 2)}


def on_postgres(result: dict[str, object], args: argparse.Namespace, measure: Callable[[str], object]) -> None:
    """`measure(url)` on PostgreSQL over loopback and through the proxy, into `result` (or why not)."""
    if not args.postgres:
        result["postgresql"] = "skipped: no --postgres URL and no $OPTGAN_TEST_POSTGRES_URL"
        return
    result["postgresql_loopback"] = measure(args.postgres)
    with through_proxy(args.postgres, args.rtt_ms) as url:
        result[f"postgresql_rtt_{args.rtt_ms:g}ms"] = measure(url)
