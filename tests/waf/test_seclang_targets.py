"""Rule variables as the loader reads them: regex selectors, and XML's XPath selectors."""

from __future__ import annotations

from stockade.waf.request import HttpRequest
from stockade.waf.seclang.engine import Plan, evaluate
from stockade.waf.seclang.loader import Loader, parse_targets


def _shape(text: str) -> list[tuple[str, str | None, str | None, bool]]:
    return [
        (t.collection, t.key, t.key_regex.pattern if t.key_regex else None, t.exclude)
        for t in parse_targets(text, file="t.conf", line=1)
    ]


def test_xml_selectors_are_xpath_not_regex() -> None:
    # CRS writes ...|XML:/*|XML://@* in about 180 rules: element text and attributes.
    assert _shape("ARGS|XML:/*|XML://@*") == [
        ("ARGS", None, None, False),
        ("XML", "/*", None, False),
        ("XML", "//@*", None, False),
    ]
    assert _shape("!XML:/*|ARGS:/a|b/") == [("XML", "/*", None, True), ("ARGS", None, "a|b", False)]
    assert _shape("REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|XML:/*") == [
        ("REQUEST_COOKIES", None, None, False),
        ("REQUEST_COOKIES", None, "__utm", True),
        ("XML", "/*", None, False),
    ]


def test_xml_text_and_attributes_are_inspected() -> None:
    loader = Loader()
    loader.load_text(
        'SecRule REQUEST_HEADERS:Content-Type "@rx xml" '
        '"id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"\n'
        'SecRule ARGS|XML:/*|XML://@* "@rx evil" "id:2,phase:2,log,pass"\n',
        file="t.conf",
    )
    plan = Plan.build(loader.ruleset)
    for body in (b"<a>evil</a>", b'<a b="evil">x</a>'):
        request = HttpRequest(
            "POST", "/", headers=(("Host", "a"), ("Content-Type", "text/xml")), body=body
        )
        assert evaluate(plan, request).matched_ids == {2}, body
    benign = HttpRequest(
        "POST", "/", headers=(("Host", "a"), ("Content-Type", "text/xml")), body=b"<a>ok</a>"
    )
    assert evaluate(plan, benign).matched_ids == frozenset()
