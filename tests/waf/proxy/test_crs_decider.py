"""The CRS-only Decider: modes, one transaction across request and response, redaction."""

from __future__ import annotations

from stockade.waf.decision import Action, Mode
from stockade.waf.proxy.crs_decider import CrsDecider
from stockade.waf.request import HttpRequest, HttpResponse

HEADERS = (("Host", "shop.example"), ("User-Agent", "test"), ("Accept", "*/*"))
ATTACK = HttpRequest("GET", "/?id=1%27%20or%20%271%27%3D%271", headers=HEADERS)
BENIGN = HttpRequest("GET", "/products?page=2", headers=HEADERS)
PAGE = HttpResponse(200, headers=(("Content-Type", "text/html"),), body=b"<p>ok</p>")
LEAK = HttpResponse(
    200,
    headers=(("Content-Type", "text/html"),),
    body=b"You have an error in your SQL syntax; check the manual that corresponds to your "
    b"MySQL server version",
)


def test_prevent_denies_with_the_engine_status_and_details(crs: CrsDecider) -> None:
    decision = crs.decide_request(ATTACK, now=0.0)
    assert decision.action is Action.DENY
    assert decision.status == 403
    assert decision.incident_id
    assert decision.anomaly_score >= 5
    ids = [d.rule_id for d in decision.detections]
    assert "942100" in ids
    assert "949110" in ids
    assert all(d.protection == "crs" for d in decision.detections)


def test_benign_requests_are_allowed_without_detections(crs: CrsDecider) -> None:
    decision = crs.decide_request(BENIGN, now=0.0)
    assert decision.action is Action.ALLOW
    assert decision.detections == ()
    assert decision.incident_id == ""
    assert crs.decide_response(BENIGN, PAGE, now=0.0).action is Action.ALLOW


def test_alert_ban_and_disabled_modes(crs: CrsDecider) -> None:
    alert = CrsDecider.load(mode=Mode.ALERT)
    decision = alert.decide_request(ATTACK, now=0.0)
    assert decision.action is Action.ALERT
    assert "942100" in [d.rule_id for d in decision.detections]
    banned = CrsDecider(crs.plan, mode=Mode.BAN, ban_seconds=42).decide_request(ATTACK, now=0.0)
    assert (banned.action, banned.ban_seconds) == (Action.BAN, 42)
    off = CrsDecider(crs.plan, mode=Mode.DISABLED)
    assert off.decide_request(ATTACK, now=0.0) == off.decide_request(BENIGN, now=0.0)
    assert off.decide_request(ATTACK, now=0.0).action is Action.ALLOW


def test_the_response_continues_the_request_transaction(crs: CrsDecider) -> None:
    request = HttpRequest("GET", "/report", headers=HEADERS)
    assert crs.decide_request(request, now=0.0).action is Action.ALLOW
    decision = crs.decide_response(request, LEAK, now=0.0)
    assert decision.action is Action.DENY
    ids = [d.rule_id for d in decision.detections]
    assert any(i.startswith("951") for i in ids)
    assert "959100" in ids
    # request-phase detections are not repeated in the response decision
    assert not any(i.startswith("92") for i in ids)


def test_a_response_without_its_request_decision_is_still_judged(crs: CrsDecider) -> None:
    orphan = HttpRequest("GET", "/never-decided", headers=HEADERS)
    assert crs.decide_response(orphan, LEAK, now=0.0).action is Action.DENY


def test_open_transactions_are_bounded() -> None:
    decider = CrsDecider.load()
    small = CrsDecider(decider.plan, max_open=5)
    requests = [HttpRequest("GET", f"/p{i}", headers=HEADERS) for i in range(20)]
    for request in requests:
        small.decide_request(request, now=0.0)
    assert len(small._open) == 5
    # the evicted first one is re-run from phase 1 and still judged
    assert small.decide_response(requests[0], LEAK, now=0.0).action is Action.DENY


def test_credentials_in_matched_data_are_redacted(crs: CrsDecider) -> None:
    def located(uri: str, *extra: tuple[str, str]) -> dict[str, str]:
        request = HttpRequest("GET", uri, headers=(*HEADERS, *extra))
        return {d.location: d.matched for d in crs.decide_request(request, now=0.0).detections}

    assert located("/?password=%27%20or%201%3D1--")["ARGS:password"] == "[redacted]"
    cookie = located("/", ("Cookie", "sid=' or 1=1--"))
    assert cookie["REQUEST_COOKIES:sid"] == "[redacted]"
    assert located("/?q=%27%20or%201%3D1--")["ARGS:q"] == "' or 1=1--"
