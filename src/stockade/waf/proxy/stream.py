"""Byte moving for the proxy: a buffered peer over asyncio streams and a body reader.

:class:`Peer` keeps the bytes read past the current message (a pipelined request, the
start of a body) in its own buffer. :class:`BodyReader` reads one body by its framing and
leaves whatever follows in that buffer. Failures surface as :class:`Abort`, which says
which side failed and what the client should be answered, if anything can still be.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Final, Literal

from stockade.waf.proxy.h1 import ChunkedDecoder, Framing, HttpProtocolError

__all__ = ["READ_SIZE", "Abort", "BodyReader", "Peer"]

READ_SIZE: Final = 64 * 1024
Side = Literal["client", "upstream"]


class Abort(Exception):
    """An exchange cannot go on; ``status`` is the answer owed to the client (0: none)."""

    def __init__(self, side: Side, status: int, reason: str) -> None:
        super().__init__(f"{side}: {reason}")
        self.side = side
        self.status = status
        self.reason = reason
        self.partial = b""
        """The body read before the failure (from :meth:`BodyReader.read_prefix`)."""


class Peer:
    """One TCP (or TLS) connection with a read buffer of our own."""

    __slots__ = ("buffer", "reader", "received_any", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.reused = False
        self.received_any = False

    async def fill(self, timeout: float) -> bool:
        """Read what is there (waiting at most ``timeout``); False at end of stream."""
        async with asyncio.timeout(timeout):
            data = await self.reader.read(READ_SIZE)
        if not data:
            return False
        self.received_any = True
        self.buffer += data
        return True

    def take(self, count: int) -> bytes:
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def send(self, data: bytes, timeout: float) -> None:
        self.writer.write(data)
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    async def linger(self, timeout: float) -> None:
        """Half-close, then read and drop what the client still sends for a while, so
        that closing does not reset the connection before it has read our answer (an
        unread upload would make the kernel send RST and discard the answer)."""
        if not self.writer.can_write_eof():
            return
        try:
            self.writer.write_eof()
            async with asyncio.timeout(timeout):
                while await self.reader.read(READ_SIZE):
                    pass
        except (OSError, TimeoutError):
            pass

    @property
    def closed(self) -> bool:
        return self.writer.is_closing() or self.reader.at_eof()

    def close(self) -> None:
        transport = self.writer.transport
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()


class BodyReader:
    """One message body, read piece by piece by its framing."""

    __slots__ = (
        "_decoder",
        "_pending",
        "_remaining",
        "_started",
        "done",
        "framing",
        "min_rate",
        "peer",
        "received",
        "side",
        "timeout",
    )

    def __init__(
        self,
        peer: Peer,
        framing: Framing,
        *,
        side: Side,
        timeout: float,
        min_rate: int = 0,
    ) -> None:
        self.peer = peer
        self.framing = framing
        self.side = side
        self.timeout = timeout
        self.min_rate = min_rate
        self.received = 0
        self._remaining = framing.length if framing.kind == "length" else 0
        self._decoder = ChunkedDecoder() if framing.kind == "chunked" else None
        self._pending: collections.deque[bytes] = collections.deque()
        self.done = framing.kind in ("none", "invalid") or (
            framing.kind == "length" and framing.length == 0
        )
        self._started = asyncio.get_running_loop().time()

    def _wait(self) -> float:
        if not self.min_rate:
            return self.timeout
        # mod_reqtimeout's MinRate: the deadline moves out as bytes come in.
        deadline = self._started + self.timeout + self.received / self.min_rate
        left = deadline - asyncio.get_running_loop().time()
        return max(0.001, min(self.timeout, left))

    async def read(self) -> bytes:
        """The next piece of the body; ``b""`` once it is complete."""
        peer = self.peer
        while True:
            if self._pending:
                return self._pop()
            if self.done:
                return b""
            if peer.buffer:
                data = self._consume()
                if data:
                    return data
                continue
            try:
                more = await peer.fill(self._wait())
            except TimeoutError:
                raise Abort(
                    self.side,
                    408 if self.side == "client" else 504,
                    "timed out reading the body",
                ) from None
            except OSError as exc:
                raise Abort(self.side, 0 if self.side == "client" else 502, str(exc)) from None
            if not more:
                if self.framing.kind == "close":
                    self.done = True
                    return b""
                raise Abort(self.side, 0 if self.side == "client" else 502, "body cut short")

    def _consume(self) -> bytes:
        peer = self.peer
        kind = self.framing.kind
        if kind == "length":
            data = peer.take(min(self._remaining, len(peer.buffer)))
            self.received += len(data)
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return data
        if kind == "close":
            data = bytes(peer.buffer)
            peer.buffer.clear()
            self.received += len(data)
            return data
        decoder = self._decoder
        if decoder is None:  # pragma: no cover - kinds are none, length, close, chunked
            raise Abort(self.side, 400, f"no body framing for {kind}")
        try:
            pieces, used = decoder.feed(peer.buffer)
        except HttpProtocolError as exc:
            raise Abort(
                self.side, exc.http_status if self.side == "client" else 502, exc.message
            ) from None
        del peer.buffer[:used]
        self.received += sum(len(p) for p in pieces)
        self._pending.extend(p for p in pieces if p)
        if self._pending:
            return self._pop()
        self.done = decoder.done
        return b""

    def _pop(self) -> bytes:
        data = self._pending.popleft()
        if not self._pending and self._decoder is not None and self._decoder.done:
            self.done = True
        return data

    async def read_prefix(self, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the body, and whether that is all of it. A piece read
        past the limit is kept for :meth:`read`."""
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                data = await self.read()
            except Abort as abort:
                abort.partial = b"".join(parts)
                raise
            if not data:
                return b"".join(parts), True
            if size + len(data) > limit:
                keep = limit - size
                parts.append(data[:keep])
                self._pending.appendleft(data[keep:])
                return b"".join(parts), False
            parts.append(data)
            size += len(data)

    @property
    def complete(self) -> bool:
        return self.done and not self._pending
