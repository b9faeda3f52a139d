"""A go-ftw regression runner: CRS's YAML test cases against a :class:`FtwTarget`.

Each stage's input is turned into the request go-ftw would send; the target answers with
the ids of the rules that matched (what go-ftw reads from the WAF's log); the stage passes
when every ``expect_ids`` id is there and no ``no_expect_ids`` id is.

:class:`EngineTarget` runs the engine in-process; stages that only check an HTTP status
are counted apart there. :class:`HttpTarget` sends each stage's raw bytes to the running
proxy and reads the matched ids from the proxy's audit log (the lines of the stage's own
connection, by client port), so it judges statuses as well. Overrides files replace a
test's expected output, as go-ftw's ``--overrides`` does.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from stockade.waf.crs import load_crs
from stockade.waf.errors import RequestError, WafError
from stockade.waf.http1 import parse_request
from stockade.waf.request import HttpRequest, HttpResponse
from stockade.waf.seclang.engine import Plan, Transaction

CRS_TEST_SETUP = """
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html text/xml application/json
SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" \\
    "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" \\
    "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/[a-z0-9.-]+[+]json" \\
    "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,\\
    ctl:ruleRemoveById=910000,setvar:tx.blocking_paranoia_level=4,\\
    setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,\\
    setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,\\
    setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
"""
"""The engine settings and the test rule 900005 CRS's regression README asks for
(DetectionOnly, paranoia level 4 so every rule runs), with the XML/JSON body processor
rules of the recommended engine configuration."""

BENIGN_RESPONSE = HttpResponse(
    status=200,
    headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "33")),
    body=b"<html><body>Hello</body></html>\n",
)


@dataclass(frozen=True, slots=True)
class Stage:
    file: str
    rule_file: str
    test_id: str
    index: int
    input: Mapping[str, Any]
    expect_ids: frozenset[int]
    no_expect_ids: frozenset[int]
    status: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.test_id}/{self.index}"

    @property
    def checks_log(self) -> bool:
        return bool(self.expect_ids or self.no_expect_ids)


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: Stage
    passed: bool
    matched: frozenset[int]
    missing: frozenset[int]
    unexpected: frozenset[int]
    error: str = ""
    status: int = 0
    """The HTTP status answered (targets that exchange over HTTP only; 0: none)."""


class FtwTarget(Protocol):
    """Something that answers a go-ftw stage with the ids of the rules that matched."""

    def matched_ids(self, stage: Stage) -> frozenset[int]: ...


@dataclass(frozen=True, slots=True)
class Exchange:
    status: int
    """The response status, 0 when the connection ended without one."""
    matched: frozenset[int]
    error: str = ""


@runtime_checkable
class ExchangeTarget(Protocol):
    """A target that answers with the HTTP status too (a real server)."""

    def exchange(self, stage: Stage) -> Exchange: ...


@dataclass(frozen=True, slots=True)
class Override:
    """A test's expected output replaced for one engine or server (go-ftw overrides)."""

    reason: str
    status: tuple[int, ...] = ()
    expect_ids: frozenset[int] = frozenset()
    no_expect_ids: frozenset[int] = frozenset()

    @property
    def checks(self) -> bool:
        return bool(self.status or self.expect_ids or self.no_expect_ids)


def _ids(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, list):
        return frozenset(int(v) for v in value)
    return frozenset({int(value)})


def load_stages(directory: Path) -> Iterator[Stage]:
    """Every stage of every YAML test under ``directory``, in file order."""
    for path in sorted(directory.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rule_file = path.parent.name
        for test in document.get("tests", []):
            test_id = f"{document.get('rule_id', path.stem)}-{test.get('test_id')}"
            for index, stage in enumerate(test.get("stages", [])):
                body = stage.get("stage", stage)
                output = body.get("output", {}) or {}
                log = output.get("log", {}) or {}
                expect = _ids(log.get("expect_ids")) | _ids(output.get("expect_id"))
                no_expect = _ids(log.get("no_expect_ids")) | _ids(output.get("no_expect_id"))
                status = output.get("status")
                statuses = tuple(status if isinstance(status, list) else [status] if status else [])
                yield Stage(
                    file=str(path.relative_to(directory)),
                    rule_file=rule_file,
                    test_id=test_id,
                    index=index,
                    input=body.get("input", {}) or {},
                    expect_ids=expect,
                    no_expect_ids=no_expect,
                    status=tuple(int(s) for s in statuses),
                )


def load_overrides(path: Path) -> dict[str, str]:
    """``{"920100-4": reason}`` from a go-ftw overrides file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    overrides: dict[str, str] = {}
    for entry in document.get("test_overrides", []) or []:
        for test_id in entry.get("test_ids", []):
            overrides[f"{entry['rule_id']}-{test_id}"] = str(entry.get("reason", "")).strip()
    return overrides


def load_test_overrides(path: Path) -> dict[str, Override]:
    """``{"920100-4": Override(...)}`` from a go-ftw overrides file, with the outputs."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    overrides: dict[str, Override] = {}
    for entry in document.get("test_overrides", []) or []:
        output = entry.get("output") or {}
        log = output.get("log") or {}
        status = output.get("status")
        override = Override(
            reason=str(entry.get("reason", "")).strip(),
            status=tuple(int(s) for s in (status if isinstance(status, list) else [status]))
            if status
            else (),
            expect_ids=_ids(log.get("expect_ids")) | _ids(output.get("expect_id")),
            no_expect_ids=_ids(log.get("no_expect_ids")) | _ids(output.get("no_expect_id")),
        )
        for test_id in entry.get("test_ids", []):
            overrides[f"{entry['rule_id']}-{test_id}"] = override
    return overrides


def build_request(stage_input: Mapping[str, Any]) -> HttpRequest:
    """The request go-ftw sends for a stage (raises RequestError when it is not HTTP)."""
    encoded = stage_input.get("encoded_request")
    if encoded:
        return parse_request(base64.b64decode(encoded))
    raw_request = stage_input.get("raw_request")
    if raw_request:
        return parse_request(str(raw_request).encode("latin-1", "replace"))
    method, uri, version, headers, body = _stage_fields(stage_input)
    return HttpRequest(
        method=method,
        uri=uri,
        protocol=version,
        headers=tuple(headers),
        body=body,
        remote_addr="127.0.0.1",
        server_port=int(stage_input.get("port", 80) or 80),
    )


def raw_request(stage_input: Mapping[str, Any]) -> bytes:
    """The bytes go-ftw puts on the wire for a stage: the encoded or raw request as given,
    else ``METHOD URI VERSION``, the headers in order, an empty line and the data."""
    encoded = stage_input.get("encoded_request")
    if encoded:
        return base64.b64decode(encoded)
    raw = stage_input.get("raw_request")
    if raw:
        return str(raw).encode("latin-1", "replace")
    method, uri, version, headers, body = _stage_fields(stage_input)
    lines = [f"{method} {uri} {version}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def _stage_fields(
    stage_input: Mapping[str, Any],
) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    headers: list[tuple[str, str]] = [
        (_wire(k), _wire(v)) for k, v in (stage_input.get("headers") or {}).items()
    ]
    data = stage_input.get("data")
    body = b""
    if data is not None:
        body = str(data).encode("utf-8").decode("latin-1").encode("latin-1")
    if stage_input.get("autocomplete_headers", True):
        names = {k.lower() for k, _ in headers}
        # go-ftw completes what a client would send with a body.
        if body and "content-type" not in names:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        if body and "content-length" not in names and "transfer-encoding" not in names:
            headers.append(("Content-Length", str(len(body))))
    return (
        _wire(stage_input.get("method", "GET")),
        _wire(stage_input.get("uri", "/")),
        _wire(stage_input.get("version", "HTTP/1.1")),
        headers,
        body,
    )


def _wire(value: object) -> str:
    """YAML text as the bytes go-ftw puts on the wire (UTF-8), held Latin-1."""
    return str(value).encode("utf-8").decode("latin-1")


def reflect_response(request: HttpRequest) -> HttpResponse:
    """The test backend: ``/reflect`` answers with the JSON-described response (status,
    headers, body) as CRS's albedo backend does; any other path gets a benign page."""
    if not request.uri.startswith("/reflect"):
        return BENIGN_RESPONSE
    try:
        spec = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return BENIGN_RESPONSE
    if not isinstance(spec, dict):
        return BENIGN_RESPONSE
    body_text = spec.get("body", "")
    encoded = spec.get("encodedBody")
    body = base64.b64decode(encoded) if encoded else str(body_text).encode("utf-8")
    headers = [(str(k), str(v)) for k, v in (spec.get("headers") or {}).items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "text/html"))
    return HttpResponse(
        status=int(spec.get("status", 200) or 200), headers=tuple(headers), body=body
    )


class EngineTarget:
    """Runs stages through the engine in-process, with CRS's test setup."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    @classmethod
    def with_crs(cls, crs_directory: Path | None = None) -> EngineTarget:
        return cls(Plan.build(load_crs(before=CRS_TEST_SETUP, directory=crs_directory)))

    def matched_ids(self, stage: Stage) -> frozenset[int]:
        request = build_request(stage.input)
        transaction = Transaction(self.plan, request)
        transaction.process_request_headers()
        transaction.process_request_body()
        transaction.process_response_headers(reflect_response(request))
        transaction.process_response_body()
        transaction.process_logging()
        return transaction.verdict().matched_ids


class HttpTarget:
    """Sends stages to a running proxy over HTTP and reads what matched from its audit log.

    Each stage goes on a connection of its own; the proxy writes a decision's audit line
    before it answers, so once the answer is read, every line of that connection (told
    apart by client port, and by time from an earlier connection on the same port) is in
    the file. Safe to use from several threads at once.
    """

    def __init__(self, host: str, port: int, audit_log: Path, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.audit_log = audit_log
        self.timeout = timeout
        self._lock = threading.Lock()
        self._offset = 0
        self._partial = b""
        self._by_port: dict[int, list[tuple[float, frozenset[int]]]] = {}

    def matched_ids(self, stage: Stage) -> frozenset[int]:
        return self.exchange(stage).matched

    def exchange(self, stage: Stage) -> Exchange:
        data = raw_request(stage.input)
        method = str(stage.input.get("method", "GET"))
        started = time.time()
        status = 0
        error = ""
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            local_port = int(sock.getsockname()[1])
            try:
                sock.sendall(data)
                response = http.client.HTTPResponse(sock, method=method)
                try:
                    response.begin()
                    status = response.status
                    response.read()
                finally:
                    response.close()
            except (http.client.HTTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            matched = self._matched(local_port, started)
        return Exchange(status, matched, error)

    def _matched(self, port: int, since: float) -> frozenset[int]:
        with self._lock:
            self._read_new_lines()
            entries = self._by_port.pop(port, [])
        found: set[int] = set()
        for when, ids in entries:
            if when >= since:
                found |= ids
        return frozenset(found)

    def _read_new_lines(self) -> None:
        try:
            with self.audit_log.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            when = datetime.fromisoformat(str(event["time"])).timestamp()
            ids = frozenset(int(i) for i in event.get("rule_ids", []) if str(i).isdigit())
            self._by_port.setdefault(int(event["client_port"]), []).append((when, ids))


def judge(stage: Stage, exchange: Exchange) -> StageResult:
    """A stage's verdict on what a server answered: the log ids and, when the stage
    names one, the status."""
    missing = stage.expect_ids - exchange.matched
    unexpected = stage.no_expect_ids & exchange.matched
    status_ok = not stage.status or exchange.status in stage.status
    return StageResult(
        stage,
        not missing and not unexpected and status_ok,
        exchange.matched,
        missing,
        unexpected,
        exchange.error,
        exchange.status,
    )


def run_stage(target: FtwTarget, stage: Stage) -> StageResult:
    if isinstance(target, ExchangeTarget):
        return judge(stage, target.exchange(stage))
    try:
        matched = target.matched_ids(stage)
    except RequestError as exc:
        # The server would have refused the request before any rule ran.
        matched = frozenset()
        error = exc.message
    except WafError as exc:
        return StageResult(stage, False, frozenset(), stage.expect_ids, frozenset(), exc.message)
    else:
        error = ""
    missing = stage.expect_ids - matched
    unexpected = stage.no_expect_ids & matched
    return StageResult(stage, not missing and not unexpected, matched, missing, unexpected, error)


@dataclass(frozen=True, slots=True)
class Report:
    results: tuple[StageResult, ...]
    """Stages that check the log (and, with an HTTP target, their status)."""
    overridden: tuple[tuple[Stage, str], ...]
    status_only: int
    """Stages that check only what this target cannot judge (a status, a log regex)."""
    status_results: tuple[StageResult, ...] = ()
    """Stages that check only the status, judged by an HTTP target."""
    replaced: int = 0
    """Stages judged against an override's output instead of their own."""

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def rate(self) -> float:
        return self.passed / len(self.results) if self.results else 0.0

    def by_file(self) -> dict[str, tuple[int, int]]:
        table: dict[str, tuple[int, int]] = {}
        for result in self.results:
            passed, total = table.get(result.stage.rule_file, (0, 0))
            table[result.stage.rule_file] = (passed + int(result.passed), total + 1)
        return table


def run(
    target: FtwTarget,
    stages: list[Stage],
    overrides: Mapping[str, str | Override] | None = None,
    *,
    parallel: int = 1,
) -> Report:
    """Run the stages the target can judge. An override with an output replaces the
    stage's expectations; one without (a bare reason) sets the test aside. ``parallel``
    runs that many stages at once (for targets that allow it, such as :class:`HttpTarget`).
    """
    judged: list[Stage] = []
    status_stages: list[Stage] = []
    overridden = []
    status_only = 0
    replaced = 0
    exchanges = isinstance(target, ExchangeTarget)
    for original in stages:
        stage = original
        override = (overrides or {}).get(stage.test_id)
        if override is not None:
            if isinstance(override, str) or not override.checks:
                reason = override if isinstance(override, str) else override.reason
                overridden.append((stage, reason))
                continue
            stage = replace(
                stage,
                status=override.status,
                expect_ids=override.expect_ids,
                no_expect_ids=override.no_expect_ids,
            )
            replaced += 1
        if stage.checks_log:
            judged.append(stage)
        elif exchanges and stage.status:
            status_stages.append(stage)
        else:
            status_only += 1
    everything = judged + status_stages
    if parallel > 1:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            outcomes = list(pool.map(lambda s: run_stage(target, s), everything))
    else:
        outcomes = [run_stage(target, s) for s in everything]
    return Report(
        tuple(outcomes[: len(judged)]),
        tuple(overridden),
        status_only,
        tuple(outcomes[len(judged) :]),
        replaced,
    )
