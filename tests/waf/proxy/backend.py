"""A real upstream for the proxy tests: an asyncio HTTP/1.1 server on h11, in a thread.

h11 is a different parser from the proxy's, so a framing mistake in what the proxy sends
on shows up here. Routes:

* ``/reflect``: CRS's albedo behaviour (the JSON body describes the response), as
  :func:`stockade.waf.ftw.reflect_response` does; every other unknown path gets the
  benign page.
* ``/echo``: JSON of what arrived (method, target, headers, body length and SHA-256),
  reading the body as a stream so 100 MB never sits in memory.
* ``/big?size=N[&chunked=1]``: N bytes of response body, streamed.
* ``/slow?delay=S``: answers after S seconds.
* ``/ws``: a WebSocket echo (RFC 6455 handshake, text frames echoed back).
* ``/connections``: how many TCP connections this server has accepted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from stockade.waf.ftw import reflect_response
from stockade.waf.request import HttpRequest

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Backend:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def drop_connections(self) -> None:
        """Close every open connection from the server's side (as a keep-alive timeout
        would)."""
        assert self.loop is not None

        async def close_all() -> None:
            for writer in list(self._writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=256 * 1024)
        try:
            while True:
                event = await _next_event(conn, reader)
                if isinstance(event, h11.ConnectionClosed) or event is None:
                    break
                if not isinstance(event, h11.Request):
                    break
                self.requests += 1
                upgraded = await self._respond(conn, event, reader, writer)
                if upgraded:
                    break
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    break
        except (h11.RemoteProtocolError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        target = request.target.decode("latin-1")
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/ws":
            await _drain_body(conn, reader)
            return await self._websocket(conn, request, reader, writer)
        digest = hashlib.sha256()
        size = 0
        keep: list[bytes] = []
        while True:
            event = await _next_event(conn, reader)
            if isinstance(event, h11.Data):
                digest.update(event.data)
                size += len(event.data)
                if path != "/echo" and size <= 1024 * 1024:
                    keep.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) or event is None:
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        if path == "/echo":
            body = json.dumps(
                {
                    "method": request.method.decode("latin-1"),
                    "target": target,
                    "http_version": request.http_version.decode(),
                    "headers": headers,
                    "body_length": size,
                    "body_sha256": digest.hexdigest(),
                }
            ).encode()
            await _send(conn, writer, 200, [("Content-Type", "application/json")], body)
        elif path == "/big":
            await self._big(conn, writer, int(query.get("size", "0")), "chunked" in query)
        elif path == "/slow":
            await asyncio.sleep(float(query.get("delay", "1")))
            await _send(conn, writer, 200, [("Content-Type", "text/plain")], b"slow\n")
        elif path == "/connections":
            body = str(self.connections).encode()
            await _send(conn, writer, 200, [("Content-Type", "text/plain")], body)
        else:
            model = HttpRequest(
                method=request.method.decode("latin-1"),
                uri=target,
                headers=tuple(headers),
                body=b"".join(keep),
            )
            response = reflect_response(model)
            await _send(
                conn,
                writer,
                response.status,
                [(k, v) for k, v in response.headers if k.lower() != "content-length"],
                response.body,
                head=request.method == b"HEAD",
            )
        return False

    async def _big(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, size: int, chunked: bool
    ) -> None:
        headers: list[tuple[str, str]] = [("Content-Type", "application/octet-stream")]
        if not chunked:
            headers.append(("Content-Length", str(size)))
        writer.write(conn.send(h11.Response(status_code=200, headers=headers)))
        block = b"x" * 65536
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            writer.write(conn.send(h11.Data(data=piece)))
            await writer.drain()
            left -= len(piece)
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _websocket(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        key = dict(request.headers).get(b"sec-websocket-key", b"").decode()
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        writer.write(
            conn.send(
                h11.InformationalResponse(
                    status_code=101,
                    headers=[
                        ("Upgrade", "websocket"),
                        ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", accept),
                    ],
                )
            )
        )
        await writer.drain()
        leftover, _ = conn.trailing_data
        buffer = bytearray(leftover)
        while True:
            frame = _ws_parse(buffer)
            if frame is None:
                data = await reader.read(65536)
                if not data:
                    return True
                buffer += data
                continue
            opcode, payload = frame
            if opcode == 8:  # close
                writer.write(_ws_frame(8, payload[:2]))
                await writer.drain()
                return True
            writer.write(_ws_frame(opcode, b"echo:" + payload))
            await writer.drain()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and conn.their_state is not h11.DONE:
                event = conn.next_event()
                return None if event is h11.NEED_DATA else event
            continue
        if event is h11.PAUSED:
            return None
        return event


async def _drain_body(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    while True:
        event = await _next_event(conn, reader)
        if event is None or isinstance(event, h11.EndOfMessage):
            return


async def _send(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    head: bool = False,
) -> None:
    headers = [*headers, ("Content-Length", str(len(body)))]
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
    if body and not head:
        writer.write(conn.send(h11.Data(data=body)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


def _ws_parse(buffer: bytearray) -> tuple[int, bytes] | None:
    if len(buffer) < 2:
        return None
    opcode = buffer[0] & 0x0F
    masked = buffer[1] & 0x80
    length = buffer[1] & 0x7F
    offset = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length = struct.unpack("!H", buffer[2:4])[0]
        offset = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length = struct.unpack("!Q", buffer[2:10])[0]
        offset = 10
    mask = b""
    if masked:
        mask = bytes(buffer[offset : offset + 4])
        offset += 4
    if len(buffer) < offset + length:
        return None
    payload = bytes(buffer[offset : offset + length])
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    del buffer[: offset + length]
    return opcode, payload


def _ws_frame(opcode: int, payload: bytes, *, mask: bool = False) -> bytes:
    head = bytes([0x80 | opcode])
    length = len(payload)
    bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", length)
    if mask:
        key = os.urandom(4)
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def ws_client_frame(text: str) -> bytes:
    """A masked client text frame."""
    return _ws_frame(1, text.encode(), mask=True)


def ws_read_frame(data: bytearray) -> tuple[int, bytes] | None:
    return _ws_parse(data)


@contextmanager
def running_backend() -> Iterator[Backend]:
    """The backend on 127.0.0.1 (a free port), served from a thread of its own."""
    backend = Backend()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(backend.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="waf-test-backend", daemon=True)
    thread.start()
    started.wait(10)
    backend.loop = loop
    try:
        yield backend
    finally:
        asyncio.run_coroutine_threadsafe(backend.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
