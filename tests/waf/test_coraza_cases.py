"""Operators and transformations against Coraza's JSON cases (tests/data/waf/coraza/).

Every case is a parametrized test. The few our engine deliberately decodes differently, or
whose operator we do not implement, are listed in ``KNOWN_DIFFERENCES`` with the reason
(and in docs/waf.md); they run as strict xfails, so fixing one shows up at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stockade.waf.seclang.operators import OperatorError, compile_operator
from stockade.waf.seclang.transformations import lookup

DATA = Path(__file__).parent.parent / "data" / "waf" / "coraza"

UNSUPPORTED_OPERATORS = {
    "nids": "not a ModSecurity v2/v3 operator CRS uses",
    "validateSchema": "JSON/XML schema validation is out of scope of the engine",
    "verifycpf": "Brazilian CPF check: not used by CRS, not implemented",
    "verifyssn": "US SSN check: not used by CRS, not implemented",
    "verifysvnr": "Austrian SVNR check: not used by CRS, not implemented",
}


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")


def _decode(text: str) -> str:
    """The case text as Latin-1 bytes, with the \\xHH and \\uHHHH escapes Coraza's cases use."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return chr(int(match.group(1), 16))
        return chr(int(match.group(2), 16)).encode("utf-8").decode("latin-1")

    return _ESCAPE.sub(replace, text.encode("utf-8").decode("latin-1"))


KNOWN_DIFFERENCES = {
    "containsWord-10": "the case relies on Go unquoting '\\0' to NUL; we decode only \\x and \\u",
    "ipMatch-16": "'/100' is an invalid IPv4 prefix: we refuse the rule at load, Coraza ignores it",
    "ipMatch-883": "IPv4-mapped IPv6 ::ffff:a.b.c.d inside 0:0::/80: Python's ipaddress disagrees",
    "nids-0": "@nids is not implemented",
    "nids-1": "@nids is not implemented",
    "nids-2": "@nids is not implemented",
    "nids-3": "@nids is not implemented",
    "cssDecode-3": "over-long escapes above U+FFFF: Coraza keeps UTF-8, we keep the low byte",
    "cssDecode-5": "escapes above U+10FFFF: Coraza writes U+FFFD, we keep the low byte",
    "escapeSeqDecode-5": "invalid \\x escapes: Coraza keeps the backslash, we drop it",
    "hexDecode-3": "Coraza reports invalid hex as an error case; we return an empty value",
    "hexDecode-4": "Coraza reports odd-length hex as an error case; we return an empty value",
    "urlDecodeUni-5": "best-fit mapping of a few code points differs from ModSecurity's table",
    "urlEncode-2": "which punctuation stays unescaped ('-', '.') differs",
    **{
        f"removeComments-{n}": "an unterminated or whole-value comment: Coraza leaves a NUL"
        for n in (3, 4, 5, 6, 9, 10, 11, 12)
    },
}


def _cases(kind: str) -> list[Any]:
    params = []
    for path in sorted((DATA / kind).glob("*.json")):
        for index, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            case_id = f"{path.stem}-{index}"
            reason = KNOWN_DIFFERENCES.get(case_id)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            params.append(pytest.param(case, id=case_id, marks=marks))
    return params


class _Ctx:
    capturing = True

    def __init__(self) -> None:
        self.captured: list[str] = []

    def expand(self, text: str) -> str:
        return text

    def capture(self, groups: Any) -> None:
        self.captured = list(groups)


def run_operator(case: dict[str, Any]) -> int | None:
    """1/0 as the case expects, or None when we do not implement the operator."""
    if case["name"] in UNSUPPORTED_OPERATORS:
        return None
    param = case.get("param", "")
    if case["name"] not in ("pmFromFile", "ipMatchFromFile"):
        param = _decode(param)
    try:
        operator = compile_operator(f"@{case['name']} {param}", base_dir=DATA / "operators" / "op")
    except OperatorError:
        return -1
    return int(operator(_decode(case["input"]), _Ctx()))


def run_transformation(case: dict[str, Any]) -> str | None:
    function = lookup(case["name"].split("-")[0])
    if function is None:
        return None
    return function(_decode(case["input"]))


@pytest.mark.parametrize("case", _cases("operators"))
def test_operator_case(case: dict[str, Any]) -> None:
    result = run_operator(case)
    if result is None:
        pytest.skip(f"@{case['name']}: {UNSUPPORTED_OPERATORS[case['name']]}")
    assert result == case["ret"], (case["param"], case["input"])


@pytest.mark.parametrize("case", _cases("transformations"))
def test_transformation_case(case: dict[str, Any]) -> None:
    result = run_transformation(case)
    assert result is not None, f"t:{case['name']} is not implemented"
    assert result == _decode(case["output"]), case["input"]
