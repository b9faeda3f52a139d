"""A go-ftw regression runner: CRS's YAML test cases against a :class:`FtwTarget`.

Each stage's input is turned into the request go-ftw would send; the target answers with
the ids of the rules that matched (what go-ftw reads from the WAF's log); the stage passes
when every ``expect_ids`` id is there and no ``no_expect_ids`` id is. Stages that only
check an HTTP status are judged by the proxy, not the engine, and are counted apart.

:class:`EngineTarget` runs the engine in-process. A later target will send the same
requests to the real proxy over HTTP; the cases, the setup and the overrides stay.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


class FtwTarget(Protocol):
    """Something that answers a go-ftw stage with the ids of the rules that matched."""

    def matched_ids(self, stage: Stage) -> frozenset[int]: ...


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


def build_request(stage_input: Mapping[str, Any]) -> HttpRequest:
    """The request go-ftw sends for a stage (raises RequestError when it is not HTTP)."""
    encoded = stage_input.get("encoded_request")
    if encoded:
        return parse_request(base64.b64decode(encoded))
    raw_request = stage_input.get("raw_request")
    if raw_request:
        return parse_request(str(raw_request).encode("latin-1", "replace"))
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
    return HttpRequest(
        method=_wire(stage_input.get("method", "GET")),
        uri=_wire(stage_input.get("uri", "/")),
        protocol=_wire(stage_input.get("version", "HTTP/1.1")),
        headers=tuple(headers),
        body=body,
        remote_addr="127.0.0.1",
        server_port=int(stage_input.get("port", 80) or 80),
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


def run_stage(target: FtwTarget, stage: Stage) -> StageResult:
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
    overridden: tuple[tuple[Stage, str], ...]
    status_only: int

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
    target: FtwTarget, stages: list[Stage], overrides: Mapping[str, str] | None = None
) -> Report:
    """Run the stages that check the log; overridden tests are set aside with their reason."""
    results = []
    overridden = []
    status_only = 0
    for stage in stages:
        if not stage.checks_log:
            status_only += 1
            continue
        reason = (overrides or {}).get(stage.test_id)
        if reason is not None:
            overridden.append((stage, reason))
            continue
        results.append(run_stage(target, stage))
    return Report(tuple(results), tuple(overridden), status_only)
