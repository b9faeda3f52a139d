"""The asyncio reverse proxy: one connection handler that moves bytes and asks the decider.

Per connection, per request: read a bounded head (timed), parse it (:mod:`.h1`), refuse
banned clients at once, read the body up to the inspection limit, build an
:class:`~stockade.waf.request.HttpRequest`, ask the :class:`~stockade.waf.decision.Decider`,
and then refuse (block page, protocol error) or forward on a pooled upstream connection,
streaming what was not inspected. The response head (and up to a limit, the body) goes to
``decide_response`` before any of it reaches the client. Every decision with detections
becomes an audit line before the client sees the answer.

The decider runs on the event loop: it is CPU bound, so a thread would only add
switching; more cores are used by more worker processes (:mod:`.workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from stockade.waf.decision import Action, Decider, Decision
from stockade.waf.proxy.audit import AuditLog, audit_event
from stockade.waf.proxy.bans import BanList
from stockade.waf.proxy.config import ProxyConfig
from stockade.waf.proxy.h1 import (
    FINAL_CHUNK,
    Framing,
    HttpProtocolError,
    Problem,
    RequestHead,
    ResponseHead,
    encode_chunk,
    find_head_end,
    parse_request_head,
    parse_response_head,
    request_framing,
    request_problem,
    response_framing,
    serialize_head,
    status_line,
    without_hop_by_hop,
)
from stockade.waf.proxy.pages import BlockPage, error_page
from stockade.waf.proxy.redact import IncidentIds
from stockade.waf.proxy.stream import READ_SIZE, Abort, BodyReader, Peer
from stockade.waf.proxy.upstream import UpstreamPool
from stockade.waf.request import HttpRequest, HttpResponse

__all__ = ["ProxyServer", "tls_context"]

log = logging.getLogger("stockade.waf.proxy")

REFUSING: Final = frozenset({Action.DENY, Action.BAN})
REPLAYABLE: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""Idempotent methods (RFC 9110 9.2.2): retried once after a stale pooled connection."""
_DROP_FORWARDED: Final = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "expect"}
)
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER_SECONDS: Final = 2.0
"""How long to keep reading (and dropping) after refusing a request we did not read."""


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for TLS termination: TLS 1.2 or later, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(slots=True)
class _Client:
    ip: str
    port: int
    local_port: int
    tls: bool


@dataclass(slots=True)
class _Pending:
    """The request decision's audit line, written once the status it led to is known."""

    request: HttpRequest
    decision: Decision
    incident_id: str
    error: str = ""
    written: bool = False
    answered: bool = False
    """Whether the response head went to the client (an error page can no longer)."""


class ProxyServer:
    """Serves one listening socket; :meth:`start`, then :meth:`close`."""

    def __init__(
        self,
        config: ProxyConfig,
        decider: Decider,
        *,
        audit: AuditLog | None = None,
        bans: BanList | None = None,
        block_page: BlockPage | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.decider = decider
        self.audit = audit if audit is not None else AuditLog(config.audit_log)
        self.bans = bans if bans is not None else BanList()
        if block_page is None:
            block_page = (
                BlockPage.from_file(config.block_page) if config.block_page else BlockPage()
            )
        self.block_page = block_page
        if ssl_context is None and config.tls_cert is not None and config.tls_key is not None:
            ssl_context = tls_context(str(config.tls_cert), str(config.tls_key))
        self.ssl_context = ssl_context
        self.clock = clock
        self.pool = UpstreamPool(
            config.upstream,
            connect_timeout=config.upstream_connect_timeout,
            idle_timeout=config.upstream_idle_timeout,
            max_idle=config.upstream_max_idle,
        )
        self.ids = IncidentIds()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._peers: set[Peer] = set()
        self._idle: set[Peer] = set()
        """Connections waiting for their next request (closed at once on shutdown)."""
        self._closing = False
        self.active = 0
        self._trusted = config.trusted_proxies

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, sock: socket.socket | None = None, *, reuse_port: bool = False) -> None:
        if sock is None:
            sock = listening_socket(
                self.config.listen_host, self.config.listen_port, reuse_port=reuse_port
            )
        self._server = await asyncio.start_server(
            self._connection, sock=sock, ssl=self.ssl_context, limit=256 * 1024
        )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting, let exchanges in flight finish (up to the grace period)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for peer in list(self._idle):
            # waiting for a next request: nothing in flight, and no TLS goodbye to wait for
            peer.writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.shutdown_grace)
            if pending:
                # Past the grace period: cut the connections; the handlers end on the
                # error (cancelling them would leave asyncio logging the cancellation).
                for peer in list(self._peers):
                    peer.writer.transport.abort()
                _, pending = await asyncio.wait(pending, timeout=1.0)
            for task in pending:
                task.cancel()
        self.pool.close()

    # --- one connection -----------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = Peer(reader, writer)
        address = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        client = _Client(
            str(address[0]),
            int(address[1]),
            int(local[1]),
            writer.get_extra_info("sslcontext") is not None,
        )
        self.active += 1
        self._peers.add(peer)
        try:
            if self.active > self.config.max_connections:
                # Overloaded: answer and go, no lingering on this connection.
                await self._answer(peer, 503, error_page(503), close=True, linger=False)
                return
            first = True
            while not self._closing:
                raw = await self._read_head(peer, first)
                if raw is None:
                    break
                first = False
                if not await self._exchange(peer, raw, client):
                    break
        except (OSError, TimeoutError, Abort, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug must cost one connection, never the server
            log.exception("proxy: unexpected error on a connection from %s", client.ip)
        finally:
            self.active -= 1
            self._peers.discard(peer)
            self._idle.discard(peer)
            peer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _read_head(self, peer: Peer, first: bool) -> bytes | None:
        """The next request head, or None when the connection should end quietly."""
        config = self.config
        limits = config.head_limits
        _strip_empty_lines(peer.buffer)
        if not peer.buffer:
            if self._closing:
                return None
            self._idle.add(peer)
            try:
                if not await peer.fill(
                    config.header_timeout if first else config.keepalive_timeout
                ):
                    return None
            except TimeoutError:
                return None
            finally:
                self._idle.discard(peer)
        deadline = asyncio.get_running_loop().time() + config.header_timeout
        while True:
            _strip_empty_lines(peer.buffer)
            end = find_head_end(peer.buffer, limits.max_head_bytes) if peer.buffer else -1
            if end > 0:
                return peer.take(end)
            line_end = peer.buffer.find(b"\n")
            if line_end < 0 and len(peer.buffer) > limits.max_line_bytes:
                await self._answer(peer, 414, error_page(414), close=True)
                return None
            if len(peer.buffer) > limits.max_head_bytes:
                await self._answer(peer, 431, error_page(431), close=True)
                return None
            try:
                async with asyncio.timeout_at(deadline):
                    more = await peer.fill(config.header_timeout)
            except TimeoutError:
                await self._answer(peer, 408, error_page(408), close=True)
                return None
            if not more:
                return None

    async def _exchange(self, peer: Peer, raw: bytes, client: _Client) -> bool:
        """One request and its answer; True when the connection may carry another."""
        config = self.config
        try:
            head = parse_request_head(raw, config.head_limits)
        except HttpProtocolError as exc:
            await self._answer(peer, exc.http_status, error_page(exc.http_status), close=True)
            return False
        client_ip = self._client_ip(client.ip, head)
        if self.bans.banned(client_ip, self.clock()):
            await self._answer(peer, 403, error_page(403), close=True, head=head)
            return False
        framing = request_framing(head)
        problem = request_problem(head)
        if problem is None and framing.kind == "invalid":
            problem = Problem(400, framing.reason)
        keep_alive = head.keep_alive
        body = b""
        body_reader: BodyReader | None = None
        complete = True
        if problem is None and framing.has_body:
            limit = config.inspect_limit
            reject = config.body_limit_action == "reject"
            if reject and framing.kind == "length" and framing.length > limit:
                await self._answer(peer, 413, error_page(413), close=True, head=head)
                return False
            if head.version >= (1, 1) and head.get("expect") is not None:
                await peer.send(_CONTINUE, config.send_timeout)
            body_reader = BodyReader(
                peer,
                framing,
                side="client",
                timeout=config.body_timeout,
                min_rate=config.body_min_rate,
            )
            try:
                body, complete = await body_reader.read_prefix(limit)
            except Abort as abort:
                if abort.status:
                    # As ModSecurity runs phase 1 before the body: the rules still see
                    # what came (a slow or broken body can carry an attack in its head).
                    await self._refuse_broken_body(peer, head, client, client_ip, abort)
                return False
            if not complete and reject:
                await self._answer(peer, 413, error_page(413), close=True, head=head)
                return False
        request = self._request_model(head, body, client, client_ip)
        pending = self._decide_request(request)
        decision = pending.decision
        if decision.action in REFUSING:
            status = decision.status or 403
            if decision.action is Action.BAN:
                self._ban(client_ip, decision)
            self._write_request_event(pending, status)
            close = not (keep_alive and (body_reader is None or body_reader.complete))
            page = self.block_page.render(status, pending.incident_id)
            await self._answer(peer, status, page, close=close, head=head)
            return not close
        if problem is not None:
            self._write_request_event(pending, problem.status)
            page = error_page(problem.status)
            if config.inspect_responses:
                # The rules see our own answer too, as ModSecurity's see an error page:
                # the transaction ends (phase 5) as it would had the upstream answered.
                answer = HttpResponse(
                    status=problem.status,
                    headers=(("Content-Type", "text/html"), ("Content-Length", str(len(page)))),
                    body=page,
                )
                self._write_response_event(self._decide_response(request, answer), problem.status)
            await self._answer(peer, problem.status, page, close=True)
            return False
        try:
            return await self._forward(
                peer,
                head=head,
                framing=framing,
                request=request,
                body_reader=body_reader,
                pending=pending,
                client=client,
            )
        except Abort as abort:
            self._write_request_event(pending, abort.status)
            if abort.side == "upstream":
                log.warning("proxy: upstream failed: %s", abort.reason)
            if abort.status and not pending.answered:
                await self._answer(peer, abort.status, error_page(abort.status), close=True)
            return False
        finally:
            self._write_request_event(pending, 0)

    async def _refuse_broken_body(
        self, peer: Peer, head: RequestHead, client: _Client, client_ip: str, abort: Abort
    ) -> None:
        request = self._request_model(head, abort.partial, client, client_ip)
        pending = self._decide_request(request)
        decision = pending.decision
        if decision.action in REFUSING:
            status = decision.status or 403
            if decision.action is Action.BAN:
                self._ban(client_ip, decision)
            self._write_request_event(pending, status)
            page = self.block_page.render(status, pending.incident_id)
        else:
            status = abort.status
            self._write_request_event(pending, status)
            page = error_page(status)
        await self._answer(peer, status, page, close=True, head=head)

    @staticmethod
    def _request_model(
        head: RequestHead, body: bytes, client: _Client, client_ip: str
    ) -> HttpRequest:
        return HttpRequest(
            method=head.method,
            uri=head.target,
            protocol=head.protocol,
            headers=head.headers,
            body=body,
            remote_addr=client_ip,
            remote_port=client.port,
            server_port=client.local_port,
        )

    # --- deciding -----------------------------------------------------------------------

    def _decide_request(self, request: HttpRequest) -> _Pending:
        error = ""
        try:
            decision = self.decider.decide_request(request, now=self.clock())
            if not isinstance(decision, Decision):
                raise TypeError(f"decider returned {type(decision).__name__}, not a Decision")
        except Exception as exc:  # the fail-open / fail-closed boundary
            decision, error = self._failed(exc)
        incident = decision.incident_id
        if not incident and (decision.detections or error or decision.action in REFUSING):
            incident = self.ids.next()
        return _Pending(request, decision, incident, error)

    def _ban(self, address: str, decision: Decision) -> None:
        seconds = decision.ban_seconds or self.config.ban_seconds
        self.bans.ban(address, self.clock() + seconds)

    def _failed(self, exc: Exception) -> tuple[Decision, str]:
        error = f"{type(exc).__name__}: {exc}"
        log.error("proxy: the decider failed (%s): %s", self._failure_mode, error)
        if self.config.fail_open:
            return Decision(Action.ALLOW), error
        return Decision(Action.DENY, status=503), error

    @property
    def _failure_mode(self) -> str:
        return "failing open" if self.config.fail_open else "failing closed"

    def _write_request_event(self, pending: _Pending, status: int) -> None:
        if pending.written:
            return
        pending.written = True
        decision = pending.decision
        if not decision.detections and not pending.error:
            return
        self.audit.write(
            audit_event(
                now=self.clock(),
                phase="request",
                request=pending.request,
                decision=decision,
                action=str(decision.action),
                status=status,
                incident_id=pending.incident_id,
                error=pending.error,
            )
        )

    def _decide_response(self, request: HttpRequest, response: HttpResponse) -> _Pending:
        error = ""
        try:
            decision = self.decider.decide_response(request, response, now=self.clock())
            if not isinstance(decision, Decision):
                raise TypeError(f"decider returned {type(decision).__name__}, not a Decision")
        except Exception as exc:  # the fail-open / fail-closed boundary
            decision, error = self._failed(exc)
        incident = decision.incident_id
        if not incident and (decision.detections or error or decision.action in REFUSING):
            incident = self.ids.next()
        return _Pending(request, decision, incident, error)

    def _write_response_event(self, pending: _Pending, status: int) -> None:
        decision = pending.decision
        if not decision.detections and not pending.error:
            return
        self.audit.write(
            audit_event(
                now=self.clock(),
                phase="response",
                request=pending.request,
                decision=decision,
                action=str(decision.action),
                status=status,
                incident_id=pending.incident_id,
                error=pending.error,
            )
        )

    # --- forwarding ---------------------------------------------------------------------

    async def _forward(
        self,
        peer: Peer,
        *,
        head: RequestHead,
        framing: Framing,
        request: HttpRequest,
        body_reader: BodyReader | None,
        pending: _Pending,
        client: _Client,
    ) -> bool:
        websocket = head.wants_websocket
        body = request.body
        if body_reader is None:
            body_headers = [("Content-Length", "0")] if head.get("content-length") else []
        elif body_reader.complete:
            body_headers = [("Content-Length", str(len(body)))]
        elif framing.kind == "length":
            body_headers = [("Content-Length", str(framing.length))]
        else:
            body_headers = [("Transfer-Encoding", "chunked")]
        chunked = bool(body_headers) and body_headers[0][0] == "Transfer-Encoding"
        upstream_head = self._upstream_head(head, client, body_headers, websocket=websocket)
        first = upstream_head + (encode_chunk(body) if chunked else body)
        replayable = head.method in REPLAYABLE and (body_reader is None or body_reader.complete)
        for attempt in (1, 2):
            upstream = await (self.pool.connect() if websocket else self.pool.acquire())
            try:
                await self._send_upstream(upstream, first)
                if body_reader is not None and not body_reader.complete:
                    await self._stream_request_body(body_reader, upstream, chunked=chunked)
                response_head = await self._read_response_head(upstream)
            except Abort as abort:
                upstream.close()
                stale = upstream.reused and not upstream.received_any
                if abort.side == "upstream" and stale and replayable and attempt == 1:
                    continue
                raise
            break
        try:
            response = parse_response_head(response_head)
        except HttpProtocolError as exc:
            upstream.close()
            raise Abort("upstream", 502, exc.message) from None
        if websocket and response.status == 101:
            return await self._websocket(
                peer,
                head=head,
                request=request,
                response=response,
                upstream=upstream,
                pending=pending,
            )
        if response.status == 101:
            upstream.close()
            raise Abort("upstream", 502, "upgrade answered to a request that did not ask")
        return await self._relay_response(
            peer,
            head=head,
            request=request,
            response=response,
            upstream=upstream,
            pending=pending,
            reusable=not websocket,
        )

    async def _send_upstream(self, upstream: Peer, data: bytes) -> None:
        try:
            await upstream.send(data, self.config.upstream_timeout)
        except TimeoutError:
            raise Abort("upstream", 504, "timed out sending to the upstream") from None
        except OSError as exc:
            raise Abort("upstream", 502, f"sending to the upstream: {exc}") from None

    async def _stream_request_body(
        self, body_reader: BodyReader, upstream: Peer, *, chunked: bool
    ) -> None:
        while True:
            data = await body_reader.read()
            if not data:
                break
            await self._send_upstream(upstream, encode_chunk(data) if chunked else data)
        if chunked:
            await self._send_upstream(upstream, FINAL_CHUNK)

    async def _read_response_head(self, upstream: Peer) -> bytes:
        limit = self.config.head_limits.max_head_bytes * 2
        while True:
            end = find_head_end(upstream.buffer, limit) if upstream.buffer else -1
            if end > 0:
                raw = upstream.take(end)
                # Interim answers (100 Continue, 103 Early Hints) are not passed on.
                if raw[:10] in (b"HTTP/1.1 1", b"HTTP/1.0 1") and not raw.startswith(
                    b"HTTP/1.1 101"
                ):
                    continue
                return raw
            if len(upstream.buffer) > limit:
                raise Abort("upstream", 502, "response head too large")
            try:
                more = await upstream.fill(self.config.upstream_timeout)
            except TimeoutError:
                raise Abort("upstream", 504, "timed out waiting for the upstream") from None
            except OSError as exc:
                raise Abort("upstream", 502, f"reading from the upstream: {exc}") from None
            if not more:
                raise Abort("upstream", 502, "the upstream closed the connection")

    def _upstream_head(
        self,
        head: RequestHead,
        client: _Client,
        body_headers: list[tuple[str, str]],
        *,
        websocket: bool,
    ) -> bytes:
        headers = [
            (k, v) for k, v in without_hop_by_hop(head.headers) if k.lower() not in _DROP_FORWARDED
        ]
        forwarded_for = [v for k, v in head.headers if k.lower() == "x-forwarded-for"]
        forwarded_for.append(client.ip)
        headers.append(("X-Forwarded-For", ", ".join(forwarded_for)))
        headers.append(("X-Forwarded-Proto", "https" if client.tls else "http"))
        host = head.get("host")
        if host is not None:
            headers.append(("X-Forwarded-Host", host))
        else:
            headers.insert(0, ("Host", self.config.upstream.authority))
        headers.extend(body_headers)
        if websocket:
            headers.append(("Connection", "Upgrade"))
            headers.append(("Upgrade", head.get("upgrade") or "websocket"))
        return serialize_head(f"{head.method} {head.target} HTTP/1.1", headers)

    def _inspect_response_body(self, response: ResponseHead) -> bool:
        media = (response.get("content-type") or "").split(";", 1)[0].strip().lower()
        return media in self.config.response_inspect_types

    async def _relay_response(
        self,
        peer: Peer,
        *,
        head: RequestHead,
        request: HttpRequest,
        response: ResponseHead,
        upstream: Peer,
        pending: _Pending,
        reusable: bool,
    ) -> bool:
        config = self.config
        framing = response_framing(response, head.method)
        if framing.kind == "invalid":
            upstream.close()
            raise Abort("upstream", 502, framing.reason)
        reader = BodyReader(upstream, framing, side="upstream", timeout=config.upstream_timeout)
        prefix = b""
        if config.inspect_responses:
            if framing.has_body and self._inspect_response_body(response):
                prefix, _ = await reader.read_prefix(config.response_inspect_limit)
            model = HttpResponse(
                status=response.status,
                protocol=f"HTTP/{response.version[0]}.{response.version[1]}",
                headers=response.headers,
                body=prefix,
            )
            verdict = self._decide_response(request, model)
            if verdict.decision.action in REFUSING:
                upstream.close()
                status = verdict.decision.status or 403
                if verdict.decision.action is Action.BAN:
                    self._ban(request.remote_addr, verdict.decision)
                self._write_request_event(pending, status)
                self._write_response_event(verdict, status)
                page = self.block_page.render(status, verdict.incident_id)
                close = not head.keep_alive
                await self._answer(peer, status, page, close=close, head=head)
                return not close
            self._write_request_event(pending, response.status)
            self._write_response_event(verdict, response.status)
        else:
            self._write_request_event(pending, response.status)
        keep_alive = head.keep_alive
        headers = without_hop_by_hop(response.headers)
        to_client: str
        if framing.kind == "none":
            to_client = "none"
            if head.method == "HEAD" or response.status == 304:
                headers.extend((k, v) for k, v in response.headers if k.lower() == "content-length")
        elif framing.kind == "length":
            to_client = "length"
            headers.append(("Content-Length", str(framing.length)))
        elif head.version >= (1, 1):
            to_client = "chunked"
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            to_client = "close"
            keep_alive = False
        if not keep_alive:
            headers.append(("Connection", "close"))
        elif head.version < (1, 1):
            headers.append(("Connection", "keep-alive"))
        pending.answered = True
        reuse = reusable and response.keep_alive and framing.kind in ("none", "length", "chunked")
        released = False

        def finish_upstream() -> None:
            # As soon as the upstream's answer is all read: the connection is free for
            # the next request before the client has had the last bytes.
            nonlocal released
            if not released and reader.complete:
                released = True
                if reuse:
                    self.pool.release(upstream)
                else:
                    upstream.close()

        data = serialize_head(status_line(response.status, response.reason), headers)
        if prefix:
            data += encode_chunk(prefix) if to_client == "chunked" else prefix
        try:
            finish_upstream()
            await self._send_client(peer, data)
            while True:
                piece = await reader.read()
                finish_upstream()
                if not piece:
                    break
                await self._send_client(
                    peer, encode_chunk(piece) if to_client == "chunked" else piece
                )
            if to_client == "chunked":
                await self._send_client(peer, FINAL_CHUNK)
        finally:
            if not released:
                upstream.close()
        return keep_alive

    async def _send_client(self, peer: Peer, data: bytes) -> None:
        try:
            await peer.send(data, self.config.send_timeout)
        except (OSError, TimeoutError):
            raise Abort("client", 0, "the client went away or stopped reading") from None

    async def _websocket(
        self,
        peer: Peer,
        *,
        head: RequestHead,
        request: HttpRequest,
        response: ResponseHead,
        upstream: Peer,
        pending: _Pending,
    ) -> bool:
        """Pass the 101 on and splice the two connections until either side ends."""
        if self.config.inspect_responses:
            model = HttpResponse(status=101, headers=response.headers)
            verdict = self._decide_response(request, model)
            if verdict.decision.action in REFUSING:
                upstream.close()
                status = verdict.decision.status or 403
                self._write_request_event(pending, status)
                self._write_response_event(verdict, status)
                page = self.block_page.render(status, verdict.incident_id)
                await self._answer(peer, status, page, close=True, head=head)
                return False
            self._write_request_event(pending, 101)
            self._write_response_event(verdict, 101)
        else:
            self._write_request_event(pending, 101)
        headers = without_hop_by_hop(response.headers)
        headers.append(("Connection", "Upgrade"))
        headers.append(("Upgrade", response.get("upgrade") or "websocket"))
        pending.answered = True
        await self._send_client(peer, serialize_head(status_line(101, response.reason), headers))
        try:
            await self._splice(peer, upstream)
        finally:
            upstream.close()
        return False

    async def _splice(self, client: Peer, upstream: Peer) -> None:
        idle = self.config.websocket_idle_timeout
        loop = asyncio.get_running_loop()
        last = [loop.time()]

        async def pump(source: Peer, target: Peer) -> None:
            if source.buffer:
                target.writer.write(bytes(source.buffer))
                source.buffer.clear()
            while True:
                try:
                    async with asyncio.timeout(max(0.001, last[0] + idle - loop.time())):
                        data = await source.reader.read(READ_SIZE)
                except TimeoutError:
                    if loop.time() - last[0] >= idle:
                        return
                    continue
                if not data:
                    break
                last[0] = loop.time()
                target.writer.write(data)
                async with asyncio.timeout(self.config.send_timeout):
                    await target.writer.drain()
            if target.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    target.writer.write_eof()

        tasks = {
            asyncio.create_task(pump(client, upstream)),
            asyncio.create_task(pump(upstream, client)),
        }
        try:
            done, rest = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if rest:
                # Let the other direction finish its closing handshake, briefly.
                done2, rest = await asyncio.wait(rest, timeout=5.0)
                done |= done2
            for task in done:
                with contextlib.suppress(OSError, TimeoutError):
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- answering ----------------------------------------------------------------------

    async def _answer(
        self,
        peer: Peer,
        status: int,
        page: bytes,
        *,
        close: bool,
        head: RequestHead | None = None,
        linger: bool = True,
    ) -> None:
        """A response of our own: the block page or an error page."""
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if close:
            headers.append(("Connection", "close"))
        elif head is not None and head.version < (1, 1):
            headers.append(("Connection", "keep-alive"))
        data = serialize_head(status_line(status), headers)
        if head is None or head.method != "HEAD":
            data += page
        try:
            await peer.send(data, self.config.send_timeout)
        except (OSError, TimeoutError):
            return
        if close and linger:
            peer.buffer.clear()
            await peer.linger(LINGER_SECONDS)

    def _client_ip(self, peer_ip: str, head: RequestHead) -> str:
        """The client's address: the peer's, or from X-Forwarded-For when the peer is a
        trusted proxy (the rightmost address that is not one)."""
        if not self._trusted or not self._is_trusted(peer_ip):
            return peer_ip
        hops = [hop.strip() for value in head.values("x-forwarded-for") for hop in value.split(",")]
        for hop in reversed(hops):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                break
            if not self._is_trusted(str(address)):
                return str(address)
        return peer_ip

    def _is_trusted(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)


def _strip_empty_lines(buffer: bytearray) -> None:
    """RFC 9112 2.2: empty lines before a request line are ignored."""
    count = 0
    for byte in buffer:
        if byte not in (10, 13):
            break
        count += 1
    if count:
        del buffer[:count]


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; with ``reuse_port`` several processes share the port and
    the kernel spreads connections between them (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Protocol TCP said outright: asyncio sets TCP_NODELAY on the connections it accepts
    # only from a socket whose protocol says TCP (0 left Nagle's algorithm on them).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
