"""Keep-alive connections to the upstream, reused most-recent first.

An idle connection is dropped after ``idle_timeout`` (shorter than the usual server
keep-alive, so the upstream rarely closes one under us) or when the upstream has closed
it. A request that fails on a reused connection before any answer came back is retried
once on a fresh one, when it can be replayed (see the server).
"""

from __future__ import annotations

import asyncio
import collections
import ssl

from stockade.waf.proxy.config import Upstream
from stockade.waf.proxy.stream import Abort, Peer

__all__ = ["UpstreamPool"]


class UpstreamPool:
    def __init__(
        self,
        upstream: Upstream,
        *,
        connect_timeout: float,
        idle_timeout: float,
        max_idle: int,
    ) -> None:
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_idle = max_idle
        self._idle: collections.deque[tuple[Peer, float]] = collections.deque()
        self._ssl: ssl.SSLContext | None = None
        if upstream.scheme == "https":
            self._ssl = ssl.create_default_context()
            self._ssl.set_alpn_protocols(["http/1.1"])
        self.opened = 0

    async def acquire(self) -> Peer:
        """An idle connection when a live one is there, else a new one."""
        now = asyncio.get_running_loop().time()
        while self._idle and now - self._idle[0][1] > self.idle_timeout:
            self._idle.popleft()[0].close()
        while self._idle:
            peer, _ = self._idle.pop()
            if peer.closed or peer.buffer:
                peer.close()
                continue
            peer.reused = True
            peer.received_any = False
            return peer
        return await self.connect()

    async def connect(self) -> Peer:
        upstream = self.upstream
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    upstream.host,
                    upstream.port,
                    ssl=self._ssl,
                    server_hostname=upstream.host if self._ssl else None,
                    limit=256 * 1024,
                )
        except TimeoutError:
            raise Abort("upstream", 504, "timed out connecting to the upstream") from None
        except (OSError, ssl.SSLError) as exc:
            raise Abort("upstream", 502, f"cannot connect to the upstream: {exc}") from None
        self.opened += 1
        return Peer(reader, writer)

    def release(self, peer: Peer) -> None:
        """Give back a connection whose last exchange ended cleanly."""
        if peer.closed or peer.buffer or len(self._idle) >= self.max_idle:
            peer.close()
            return
        self._idle.append((peer, asyncio.get_running_loop().time()))

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()

    @property
    def idle(self) -> int:
        return len(self._idle)
