"""The SecLang engine on small rule sets: each test pins one ModSecurity behaviour."""

from __future__ import annotations

import pytest

from stockade.waf.crs import crs_plan, crs_rule_files, load_crs
from stockade.waf.errors import SecLangError
from stockade.waf.request import HttpRequest
from stockade.waf.seclang.engine import Plan, evaluate
from stockade.waf.seclang.loader import Loader

HEADERS = (("Host", "localhost"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*"))


def plan_of(text: str) -> Plan:
    loader = Loader()
    loader.load_text('SecDefaultAction "phase:2,log,pass"\n' + text, file="test.conf")
    return Plan.build(loader.ruleset)


def ids(plan: Plan, uri: str = "/", **kwargs: object) -> frozenset[int]:
    request = HttpRequest("GET", uri, headers=HEADERS, **kwargs)  # type: ignore[arg-type]
    return evaluate(plan, request).matched_ids


def test_chain_matches_only_when_every_link_matches() -> None:
    plan = plan_of(
        'SecRule ARGS:a "@streq x" "id:1,phase:1,chain"\nSecRule ARGS:b "@streq y" "t:none"\n'
    )
    assert ids(plan, "/?a=x&b=y") == {1}
    assert ids(plan, "/?a=x&b=z") == frozenset()


def test_skip_after_jumps_to_marker() -> None:
    plan = plan_of(
        'SecAction "id:1,phase:1,nolog,skipAfter:END"\n'
        'SecRule REQUEST_URI "@rx ." "id:2,phase:1"\n'
        "SecMarker END\n"
        'SecRule REQUEST_URI "@rx ." "id:3,phase:1"\n'
    )
    assert ids(plan) == {3}


def test_setvar_macros_and_numeric_operators() -> None:
    plan = plan_of(
        'SecAction "id:1,phase:1,nolog,setvar:tx.limit=3,setvar:tx.score=+2"\n'
        'SecAction "id:2,phase:1,nolog,setvar:tx.score=+%{tx.limit}"\n'
        'SecRule TX:score "@ge %{tx.limit}" "id:3,phase:1"\n'
        'SecRule TX:score "@eq 6" "id:4,phase:1"\n'
    )
    assert ids(plan) == {3}


def test_capture_sets_tx_groups_for_the_chain() -> None:
    plan = plan_of(
        'SecRule ARGS:q "@rx (\\d+)-(\\d+)" "id:1,phase:1,capture,chain"\n'
        'SecRule TX:2 "@streq 42"\n'
    )
    assert ids(plan, "/?q=7-42") == {1}
    assert ids(plan, "/?q=7-41") == frozenset()


def test_exclusions_counting_and_regex_selectors() -> None:
    plan = plan_of(
        'SecRule ARGS|!ARGS:safe "@rx evil" "id:1,phase:1"\n'
        'SecRule &ARGS "@eq 3" "id:2,phase:1"\n'
        'SecRule ARGS:/^id_/ "@rx ^9$" "id:3,phase:1"\n'
    )
    assert ids(plan, "/?safe=evil&id_x=9&other=1") == {2, 3}
    assert ids(plan, "/?other=evil") == {1}


def test_ctl_rule_remove_by_id_and_target() -> None:
    plan = plan_of(
        'SecAction "id:1,phase:1,nolog,ctl:ruleRemoveById=10,'
        'ctl:ruleRemoveTargetById=11;ARGS:skip"\n'
        'SecRule ARGS "@rx bad" "id:10,phase:1"\n'
        'SecRule ARGS "@rx bad" "id:11,phase:1"\n'
    )
    assert ids(plan, "/?skip=bad") == frozenset()
    assert ids(plan, "/?other=bad") == {11}


def test_engine_modes_decide_whether_to_interrupt() -> None:
    rules = 'SecRule ARGS "@rx attack" "id:1,phase:1,deny,status:406"\n'
    request = HttpRequest("GET", "/?x=attack", headers=HEADERS)
    blocked = evaluate(plan_of("SecRuleEngine On\n" + rules), request)
    assert (blocked.interrupted, blocked.status, blocked.rule_id) == (True, 406, 1)
    detected = evaluate(plan_of("SecRuleEngine DetectionOnly\n" + rules), request)
    assert not detected.interrupted
    assert detected.matched_ids == {1}
    assert evaluate(plan_of("SecRuleEngine Off\n" + rules), request).matched_ids == frozenset()


def test_transformations_apply_in_order() -> None:
    plan = plan_of('SecRule ARGS "@streq <script>" "id:1,phase:1,t:urlDecodeUni,t:lowercase"\n')
    assert ids(plan, "/?a=%253CSCRIPT%253E") == {1}


def test_post_body_args_and_json() -> None:
    plan = plan_of(
        'SecRule REQUEST_HEADERS:Content-Type "@rx json" '
        '"id:1,phase:1,nolog,ctl:requestBodyProcessor=JSON"\n'
        'SecRule ARGS_POST:json.user.name "@streq admin" "id:2,phase:2"\n'
    )
    request = HttpRequest(
        "POST",
        "/",
        headers=(*HEADERS, ("Content-Type", "application/json")),
        body=b'{"user": {"name": "admin"}}',
    )
    assert evaluate(plan, request).matched_ids == {2}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('SecRule ARGS "@rx (" "id:1"\n', 1, "does not compile"),
        ('\n\nSecRule ARGS "@nosuch x" "id:1"\n', 3, "unsupported operator"),
        ('SecRule ARGS "@rx a" "phase:1"\n', 1, "no id"),
        ('SecRule ARGS "@rx a" "id:1,t:bogus"\n', 1, "unknown transformation"),
        ('SecRule ARGS "@rx a" "id:1,frobnicate"\n', 1, "unknown action"),
        ('\nSecRule ARGS "@rx a\n', 2, "unterminated"),
        ("SecNoSuchDirective On\n", 1, "unknown directive"),
        ('SecRule ARGS "@rx a" "id:1,chain"\n', 1, "no rule follows"),
    ],
)
def test_malformed_seclang_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(SecLangError) as caught:
        Loader().load_text(text, file="bad.conf")
    assert caught.value.file == "bad.conf"
    assert caught.value.line == line
    assert fragment in caught.value.message


def test_crs_loads_as_shipped() -> None:
    ruleset = load_crs()
    rule_ids = {r.id for r in ruleset.rules if not r.is_marker}
    assert len(crs_rule_files()) == 27
    assert {920100, 942100, 941100, 949110, 959100, 980170} <= rule_ids
    assert len(rule_ids) >= 620


def test_crs_blocks_sqli_and_passes_benign_at_pl1() -> None:
    plan = crs_plan(paranoia_level=1)
    benign = evaluate(plan, HttpRequest("GET", "/index.html?id=1", headers=HEADERS))
    assert not benign.interrupted
    assert benign.matched_ids == frozenset()
    attack = evaluate(plan, HttpRequest("GET", "/?id=1%27%20or%201=1--", headers=HEADERS))
    assert attack.interrupted
    assert attack.status == 403
    assert {942100, 949110} <= attack.matched_ids
    assert attack.inbound_anomaly_score >= 5
