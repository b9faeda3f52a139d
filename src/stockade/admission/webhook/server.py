"""The webhook's HTTPS server: Starlette routes over the sans-io core, run by uvicorn.

Endpoints:

* ``POST /validate``: an ``admission.k8s.io/v1`` AdmissionReview in, one out;
* ``GET /healthz``: the process answers; ``GET /readyz``: it can evaluate (a policy
  worker is up when Gatekeeper policies are loaded);
* ``GET /metrics``: Prometheus text (:mod:`.metrics`).

Every review is answered within ``timeout`` seconds of arriving (plus the time to write
the answer): reading the body, parsing, the built-in checks (on a small thread pool)
and the Gatekeeper evaluation (in worker processes, :mod:`.workers`) all share that one
deadline. What cannot be finished in time, or fails, is answered by the failure policy
(:func:`~.decision.failure_decision`). What is not an AdmissionReview at all (wrong
content type, too large, not JSON, no readable uid) gets an RFC 9457 problem document
with a 4xx status, which the API server treats as a failed call under its own
``failurePolicy``.

Decisions are logged as one JSON line each on the ``stockade.admission`` logger: ids,
names and outcomes, never the object, its environment values or the messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from stockade.admission.webhook.certs import TlsFiles
from stockade.admission.webhook.config import WebhookPolicy
from stockade.admission.webhook.decision import (
    Decision,
    Issue,
    builtin_issues,
    decide,
    early_decision,
    failure_decision,
    gatekeeper_issues,
)
from stockade.admission.webhook.errors import EvaluationFailed, EvaluationTimeout, InvalidReview
from stockade.admission.webhook.images import VulnerabilityIndex
from stockade.admission.webhook.metrics import Metrics
from stockade.admission.webhook.review import MAX_DEPTH, AdmissionRequest, parse_review
from stockade.admission.webhook.workers import WorkerPool

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "AdmissionWebhook",
    "WebhookSettings",
    "bind",
    "create_app",
    "serve",
    "serve_in_thread",
]

DEFAULT_MAX_BODY: Final = 3 * 1024 * 1024
"""The API server's own limit on a request body; an AdmissionReview past it is hostile."""
DEFAULT_TIMEOUT: Final = 3.0
"""Well under the API server's 10 s default (and the manifest's timeoutSeconds)."""
LOGGER: Final = logging.getLogger("stockade.admission")
_JSON_TYPES: Final = ("application/json",)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    fail_open: bool = False
    """Kubernetes' ``failurePolicy: Ignore``; the default (False) is ``Fail``."""
    timeout: float = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY
    max_depth: int = MAX_DEPTH
    check_threads: int = 2


class AdmissionWebhook:
    """Answers AdmissionReviews: the policy, the worker pool, the metrics, the log."""

    def __init__(
        self,
        policy: WebhookPolicy,
        settings: WebhookSettings | None = None,
        *,
        pool: WorkerPool | None = None,
        vulnerabilities: VulnerabilityIndex | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.policy = policy
        self.settings = settings or WebhookSettings()
        self.pool = pool
        self.vulnerabilities = vulnerabilities
        self.metrics = metrics or Metrics()
        self._checks = ThreadPoolExecutor(
            max_workers=self.settings.check_threads, thread_name_prefix="stockade-checks"
        )
        if pool is not None:
            self.metrics.gauges["policy_workers_ready"] = (
                "Policy worker processes up.",
                lambda: float(pool.alive),
            )
            self.metrics.gauges["policy_worker_restarts"] = (
                "Policy workers killed and replaced (timeouts, crashes).",
                lambda: float(pool.restarts),
            )

    @property
    def ready(self) -> bool:
        return self.pool is None or self.pool.alive > 0

    def close(self) -> None:
        self._checks.shutdown(wait=False, cancel_futures=True)

    async def validate(self, request: Request) -> Response:
        started = time.monotonic()
        deadline = started + self.settings.timeout
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in _JSON_TYPES:
            return self._problem(415, "unsupported media type", "send application/json")
        declared = request.headers.get("content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > self.settings.max_body
        ):
            return self._too_large()
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                body = await self._read(request)
        except TimeoutError:
            self.metrics.timeout("body")
            return self._problem(408, "request body too slow", "the body did not arrive in time")
        if body is None:
            return self._too_large()
        try:
            parsed = await self._in_thread(parse_review, body, deadline)
        except InvalidReview as exc:
            return self._invalid(exc, started)
        except TimeoutError:
            self.metrics.timeout("parse")
            return self._problem(408, "request too slow to parse", "")
        assert isinstance(parsed, AdmissionRequest)  # noqa: S101 - parse_review's return type
        decision = await self._decide(parsed, deadline)
        self._record(parsed, decision, started)
        return JSONResponse(decision.response(parsed.uid))

    async def _decide(self, request: AdmissionRequest, deadline: float) -> Decision:
        early = early_decision(request, self.policy)
        if early is not None:
            return early
        policy = self.policy.for_namespace(request.namespace)
        try:
            checks = self._in_thread(
                lambda: builtin_issues(request, policy, vulnerabilities=self.vulnerabilities),
                None,
                deadline,
            )
            if self.pool is None or request.object is None:
                issues: list[Issue] = await checks
            else:
                violations = self.pool.evaluate(request.raw, deadline)
                builtin, found = await asyncio.gather(checks, violations)
                issues = [*builtin, *gatekeeper_issues(found)]
        except (TimeoutError, EvaluationTimeout) as exc:
            # wait_for's TimeoutError is the checks'; the pool raises its own.
            stage = "policy" if isinstance(exc, EvaluationTimeout) else "checks"
            self.metrics.timeout(stage)
            return failure_decision(
                f"{'policy' if stage == 'policy' else 'built-in check'} evaluation timed out "
                f"after {self.settings.timeout:g}s",
                fail_open=self.settings.fail_open,
                audit=policy.audit,
            )
        except EvaluationFailed as exc:
            self.metrics.error("evaluation")
            return failure_decision(
                f"policy evaluation failed: {exc.message}",
                fail_open=self.settings.fail_open,
                audit=policy.audit,
            )
        return decide(request, policy, issues)

    async def _in_thread(self, function: Any, argument: Any, deadline: float) -> Any:
        loop = asyncio.get_running_loop()
        if argument is None:
            future = loop.run_in_executor(self._checks, function)
        else:
            future = loop.run_in_executor(self._checks, function, argument)
        return await asyncio.wait_for(future, max(deadline - time.monotonic(), 0.0))

    async def _read(self, request: Request) -> bytes | None:
        """The body, or None as soon as it grows past the limit."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.settings.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _invalid(self, exc: InvalidReview, started: float) -> Response:
        self.metrics.error("invalid_review")
        if exc.uid is None:
            return self._problem(400, "invalid AdmissionReview", exc.message)
        decision = failure_decision(
            f"invalid AdmissionReview: {exc.message}", fail_open=self.settings.fail_open
        )
        self._log(
            {"uid": exc.uid, "decision": decision.outcome.value, "allowed": decision.allowed},
            decision,
            started,
        )
        self.metrics.request(decision.outcome.value, time.monotonic() - started)
        return JSONResponse(decision.response(exc.uid))

    def _too_large(self) -> Response:
        self.metrics.error("too_large")
        return self._problem(
            413,
            "AdmissionReview too large",
            f"the body is over the {self.settings.max_body}-byte limit",
        )

    def _problem(self, status: int, title: str, detail: str) -> Response:
        if status == 415:
            self.metrics.error("unsupported_media_type")
        body = {"type": "about:blank", "title": title, "status": status}
        if detail:
            body["detail"] = detail
        return JSONResponse(body, status_code=status, media_type="application/problem+json")

    def _record(self, request: AdmissionRequest, decision: Decision, started: float) -> None:
        self.metrics.request(decision.outcome.value, time.monotonic() - started)
        fields = {
            "uid": request.uid,
            "operation": request.operation,
            "kind": str(request.kind),
            "namespace": request.namespace,
            "name": request.name[:253],
            "user": request.username[:253],
            "dryRun": request.dry_run,
            "decision": decision.outcome.value,
            "allowed": decision.allowed,
        }
        self._log(fields, decision, started)

    def _log(self, fields: dict[str, Any], decision: Decision, started: float) -> None:
        if not LOGGER.isEnabledFor(logging.INFO):
            return
        by_action: dict[str, list[str]] = {}
        for issue in decision.issues:
            by_action.setdefault(issue.action.value, []).append(issue.id)
        line = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            **fields,
            **{f"{action}Ids": sorted(set(ids)) for action, ids in by_action.items()},
            "reason": decision.reason,
            "latencyMs": round((time.monotonic() - started) * 1000, 2),
        }
        LOGGER.info(json.dumps(line, ensure_ascii=True, separators=(",", ":")))


def _loop_deadline(deadline: float) -> float:
    """``deadline`` (time.monotonic) on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


def create_app(webhook: AdmissionWebhook) -> Starlette:
    """The ASGI application serving ``webhook``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if webhook.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "no policy worker is up"}, status_code=503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            webhook.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return Starlette(
        routes=[
            Route("/validate", webhook.validate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on sockets that say they are TCP, and accepted connections inherit the proto.
    # With Nagle on, the response's separate header and body writes wait for the
    # client's delayed ACK: 40 ms added to every answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _config(app: Starlette, tls: TlsFiles) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
        limit_concurrency=1000,
    )


def serve(app: Starlette, sock: socket.socket, tls: TlsFiles) -> None:
    """Serve ``app`` over HTTPS on ``sock`` until SIGINT or SIGTERM (blocking)."""
    import uvicorn

    uvicorn.Server(_config(app, tls)).run(sockets=[sock])


@contextmanager
def serve_in_thread(app: Starlette, tls: TlsFiles, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve ``app`` on a free port of ``host`` in a thread; yields the port.

    For tests and benchmarks: the server is real (uvicorn, TLS), only its signal
    handling is left out, as it must be outside the main thread.
    """
    import uvicorn

    sock = bind(host, 0)
    server = uvicorn.Server(_config(app, tls))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name="stockade-webhook",
        daemon=True,
    )
    thread.start()
    try:
        waited = 0.0
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the webhook server did not start")
            time.sleep(0.01)
            waited += 0.01
            if waited > 30:
                raise RuntimeError("the webhook server did not start within 30 s")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
