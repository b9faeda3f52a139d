"""The engine's speed-ups decide exactly as the plain evaluator does.

``Plan.build(ruleset, optimize=False)`` is the reference: every rule evaluated in order,
no prefilter, no direct evaluators, no remembered TX runs. The optimised plan must give
the same verdicts (every match with its variable, value, message and log data, the
anomaly scores, the whole TX collection) on CRS's own go-ftw requests, whatever the
engine remembered from requests before.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest

from stockade.waf.crs import crs_plan, load_crs
from stockade.waf.ftw import CRS_TEST_SETUP, Stage, build_request, load_stages, reflect_response
from stockade.waf.request import HttpRequest
from stockade.waf.seclang import prefilter
from stockade.waf.seclang.engine import Plan, Transaction, evaluate
from stockade.waf.seclang.loader import Loader
from stockade.waf.seclang.regex import Regex, RegexSet

CASES = Path(__file__).parent.parent / "data" / "waf" / "crs" / "regression"
HEADERS = (("Host", "localhost"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*"))


@functools.cache
def _stages() -> list[Stage]:
    # Every third test file (all rule files are represented), two stages of each that
    # check the log: about 210 requests, without parsing all 322 files.
    chosen: list[Stage] = []
    with tempfile.TemporaryDirectory() as folder:
        for path in sorted(CASES.rglob("*.yaml"))[::3]:
            link = Path(folder) / path.parent.name / path.name
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(path)
        for directory in sorted(Path(folder).iterdir()):
            per_file: dict[str, int] = {}
            for stage in load_stages(directory):
                if stage.checks_log and per_file.get(stage.file, 0) < 2:
                    per_file[stage.file] = per_file.get(stage.file, 0) + 1
                    chosen.append(stage)
    return chosen


def _outcome(plan: Plan, request: HttpRequest) -> tuple[Any, ...]:
    transaction = Transaction(plan, request)
    transaction.process_request_headers()
    transaction.process_request_body()
    if not transaction.interrupted:
        transaction.process_response_headers(reflect_response(request))
        transaction.process_response_body()
    transaction.process_logging()
    verdict = transaction.verdict()
    tx = {k: v for k, v in transaction.tx.items() if "unique" not in k}
    return (
        verdict.interrupted,
        verdict.status,
        verdict.action,
        verdict.rule_id,
        verdict.inbound_anomaly_score,
        verdict.outbound_anomaly_score,
        [(m.rule_id, m.msg, m.logdata, m.matched_var, m.matched_value) for m in verdict.matched],
        sorted(tx.items()),
    )


def _requests() -> list[HttpRequest]:
    return [build_request(stage.input) for stage in _stages()]


@pytest.mark.parametrize("setup", ["regression", "pl1-blocking"])
def test_optimised_plan_decides_as_the_reference(setup: str) -> None:
    def plan(optimize: bool) -> Plan:
        if setup == "regression":
            return Plan.build(load_crs(before=CRS_TEST_SETUP), optimize=optimize)
        return Plan.build(crs_plan(paranoia_level=1).ruleset, optimize=optimize)

    reference, optimised = plan(False), plan(True)
    assert optimised.prefilter_groups
    assert not reference.prefilter_groups
    requests = _requests()
    expected = [_outcome(reference, r) for r in requests]
    assert sum(1 for e in expected if e[6]) > len(requests) // 2  # most requests match rules
    # In order, then backwards: what the caches remember never changes a decision.
    assert [_outcome(optimised, r) for r in requests] == expected
    assert [_outcome(optimised, r) for r in reversed(requests)] == expected[::-1]


def test_prefilter_skips_most_rules_of_a_benign_request() -> None:
    plan = crs_plan(paranoia_level=1)
    evaluated: list[int] = []
    original = Transaction._evaluate_link

    class Counting(Transaction):
        def _evaluate_link(self, rule: Any, head: Any) -> list[tuple[str, str]]:
            evaluated.append(head.id)
            return original(self, rule, head)

    request = HttpRequest("GET", "/index.html?id=1", headers=HEADERS)
    transaction = Counting(plan, request)
    transaction.process_request_headers()
    transaction.process_request_body()
    gated = sum(1 for phase in (1, 2) for gate in plan.phases[phase].gates if gate is not None)
    assert gated > 250
    assert len(evaluated) < 40, sorted(evaluated)
    assert not transaction.interrupted


def test_failed_set_scan_evaluates_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # RE2 answers "no result" only when its memory bound cannot hold a few DFA states, a
    # fault no input causes with the engine's bound: stand it in.
    plan = crs_plan(paranoia_level=1)
    attack = HttpRequest("GET", "/?id=1%27%20or%201=1--", headers=HEADERS)
    monkeypatch.setattr(RegexSet, "match", lambda self, value: None)
    for group in plan.prefilter_groups:
        for reader in group.readers:
            reader.memo.clear()
    verdict = evaluate(plan, attack)
    assert verdict.interrupted
    assert {942100, 949110} <= verdict.matched_ids
    reference = Plan.build(plan.ruleset, optimize=False)
    assert evaluate(plan, attack).matched == evaluate(reference, attack).matched


def test_regex_set_finds_exactly_what_each_pattern_finds() -> None:
    regexes = [
        rule.operator.regex
        for rule in load_crs().rules
        if rule.operator is not None
        and rule.operator.regex is not None
        and rule.operator.regex.engine == "re2"
        and rule.phase == 2
    ]
    assert len(regexes) > 150
    regex_set = RegexSet()
    assert [regex_set.add(r) for r in regexes] == list(range(1, len(regexes) + 1))
    assert regex_set.compile()
    values = {"", "Mozilla/5.0", "/index.php?x=1", "GET / HTTP/1.1"}
    for request in _requests()[:200]:
        values.add(request.uri)
        values.update(v for _, v in request.headers)
        values.add(request.body.decode("latin-1")[:2000])
    for value in sorted(values):
        found = regex_set.match(value)
        assert found is not None
        assert 0 in found
        expected = {i + 1 for i, regex in enumerate(regexes) if regex.search(value)}
        assert found - {0} == expected, value


def test_case_insensitive_patterns_join_a_set_as_written() -> None:
    regex_set = RegexSet()
    assert regex_set.add(Regex("union select", ignore_case=True)) == 1
    assert regex_set.add(Regex("UNION")) == 2
    assert regex_set.add(Regex(r"(a)\1")) is None  # RE2 refuses; Python's re runs it
    assert regex_set.compile()
    assert regex_set.match("x UNION SELECT") == {0, 1, 2}
    assert regex_set.match("union select") == {0, 1}
    assert regex_set.match("nothing") == {0}


def _plans(text: str) -> tuple[Plan, Plan]:
    def load(optimize: bool) -> Plan:
        loader = Loader()
        loader.load_text('SecDefaultAction "phase:2,log,pass"\n' + text, file="t.conf")
        return Plan.build(loader.ruleset, optimize=optimize)

    return load(True), load(False)


def test_remembered_tx_runs_follow_the_values_they_read() -> None:
    # Six TX-only rules in a row (a remembered run) whose outcome depends on tx.level,
    # which a request argument sets: each level replays its own outcome.
    run = "".join(
        f'SecRule TX:level "@ge {n}" "id:{10 + n},phase:1,pass,msg:\'level %{{tx.level}}\','
        f'setvar:tx.score=+{n}"\n'
        for n in range(1, 7)
    )
    optimised, reference = _plans(
        'SecRule ARGS:level "@rx ^(\\d)$" "id:1,phase:1,pass,nolog,capture,'
        'setvar:tx.level=%{tx.1}"\n'
        + run
        + 'SecRule TX:score "@ge 10" "id:30,phase:1,deny,status:403"\n'
    )
    assert any(r is not None for r in optimised.phases[1].runs)
    for level in ("1", "6", "3", "6", "1", "x"):
        request = HttpRequest("GET", f"/?level={level}", headers=HEADERS)
        expected = evaluate(reference, request)
        got = evaluate(optimised, request)
        assert got.matched == expected.matched
        assert got.interrupted == expected.interrupted
    blocked = evaluate(optimised, HttpRequest("GET", "/?level=6", headers=HEADERS))
    assert blocked.interrupted
    assert [m.msg for m in blocked.matched if m.rule_id == 16] == ["level 6"]


def test_direct_evaluators_match_the_general_path() -> None:
    # One rule per link shape with a direct evaluator, and the cases they hand back.
    optimised, reference = _plans(
        'SecRule &TX:missing "@eq 0" "id:1,phase:1,setvar:tx.n=5"\n'
        'SecRule TX:n "@gt %{tx.limit}" "id:2,phase:1"\n'
        'SecRule REQUEST_LINE "@contains select" "id:3,phase:1,t:lowercase"\n'
        'SecRule REQUEST_HEADERS:X-Test "@streq yes" "id:4,phase:1,t:lowercase"\n'
        'SecRule &REQUEST_HEADERS:X-Test "@eq 2" "id:5,phase:1"\n'
        'SecRule &ARGS "@gt 1" "id:6,phase:1"\n'
        'SecRule &RESPONSE_HEADERS "@eq 0" "id:7,phase:1"\n'
        'SecRule ARGS:a "@rx b" "id:8,phase:1,ctl:ruleRemoveTargetById=9;ARGS:a"\n'
        'SecRule ARGS:a "@rx b" "id:9,phase:1"\n'
        'SecRule ARGS:c "@rx d" "id:10,phase:1,chain"\n'
        'SecRule TX:n "@eq 5" "setvar:tx.chained=1"\n'
    )
    for uri, extra in (
        ("/?a=b&c=d", (("X-Test", "YES"), ("X-Test", "yes"))),
        ("/SELECT?a=x", (("X-Test", "no"),)),
        ("/", ()),
    ):
        request = HttpRequest("GET", uri, headers=(*HEADERS, *extra))
        got, expected = evaluate(optimised, request), evaluate(reference, request)
        assert got.matched == expected.matched
    ids = evaluate(
        optimised,
        HttpRequest("GET", "/?a=b&c=d", headers=(*HEADERS, ("X-Test", "YES"), ("X-Test", "x"))),
    ).matched_ids
    assert ids == {1, 2, 4, 5, 6, 7, 8, 10}  # tx.limit unset reads as 0


def test_prefilter_leaves_rules_reading_what_rules_change() -> None:
    loader = Loader()
    loader.load_text(
        'SecRule TX:x "@rx a" "id:1,phase:1"\n'
        'SecRule ARGS "!@rx a" "id:2,phase:1"\n'
        'SecRule ARGS "@streq %{tx.x}" "id:3,phase:1"\n'
        'SecRule &ARGS "@eq 1" "id:4,phase:1"\n'
        'SecRule REQBODY_PROCESSOR "@rx JSON" "id:5,phase:1"\n'
        'SecRule ARGS|REQUEST_HEADERS:User-Agent "@rx a" "id:6,phase:1,t:lowercase"\n',
        file="t.conf",
    )
    rules = {rule.id: rule for rule in loader.ruleset.rules}
    Plan.build(loader.ruleset)
    tests = {rule_id: prefilter.prefilter_test(rule) for rule_id, rule in rules.items()}
    assert tests[1] is None  # TX changes as rules run
    assert isinstance(tests[2], tuple)  # a negated pattern: the operator is called
    assert tests[3] is None  # its parameter reads TX
    assert tests[4] is None  # a count
    assert tests[5] is None  # ctl can change it
    assert isinstance(tests[6], Regex)


def test_memo_of_values_is_bounded() -> None:
    plan = crs_plan(paranoia_level=1)
    reader = max(
        (reader for group in plan.prefilter_groups for reader in group.readers),
        key=lambda reader: len(reader.slot_of),
    )

    def candidates(value: str) -> frozenset[int] | None:
        return prefilter.candidates(reader, value, prefilter.memo_key(value))

    first = candidates("1' or 1=1--")
    assert first  # SQL injection patterns found
    assert reader.memo["1' or 1=1--"] == first
    for n in range(prefilter._MEMO_ENTRIES + 10):
        assert candidates(f"value {n}") is not None
    assert 0 < len(reader.memo) <= prefilter._MEMO_ENTRIES
    # A long value (a page answered again and again) is remembered by its digest only.
    page = "<p>" + "Nothing to see here. " * 20 + "1' or 1=1--</p>"
    assert len(page) > prefilter._MEMO_VALUE_LENGTH
    reader.memo.clear()
    found = candidates(page)
    assert found
    assert list(reader.memo) == [prefilter.memo_key(page)]
    assert reader.memo[prefilter.memo_key(page)] == found
    assert len(prefilter.memo_key(page)) == 16
    assert prefilter.memo_key(page + " ") != prefilter.memo_key(page)
