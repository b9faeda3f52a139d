"""A CRS-only :class:`~stockade.waf.decision.Decider`: the SecLang engine with OWASP CRS.

The proxy's stand-in until the full policy (CRS, native protections, OpenAPI, rate limits)
takes over; the proxy knows only the Decider protocol, so swapping one for the other is a
change at the command line. One :class:`~stockade.waf.seclang.engine.Transaction` spans
request and response, as in ModSecurity: phases 1-2 in :meth:`CrsDecider.decide_request`,
3-5 in :meth:`CrsDecider.decide_response`. The open transactions wait in a bounded table
between the two; one that falls out of it (or was never stored) is run again from
phase 1 when its response comes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from stockade.waf.crs import crs_directory, crs_rule_files
from stockade.waf.decision import Action, Decision, Detection, Mode
from stockade.waf.proxy.redact import IncidentIds, Redactor
from stockade.waf.request import HttpRequest, HttpResponse
from stockade.waf.seclang.engine import MatchedRule, Plan, Transaction, Verdict
from stockade.waf.seclang.loader import Loader

__all__ = ["CrsDecider", "crs_engine_settings", "paranoia_setting"]

MAX_OPEN_TRANSACTIONS: Final = 1024
"""Transactions kept between request and response (more in flight are re-run)."""


def crs_engine_settings(*, detection_only: bool = False) -> str:
    """What ModSecurity's recommended modsecurity.conf sets, read before the CRS setup:
    engine on, bodies read, the XML/JSON body processor rules."""
    engine = "DetectionOnly" if detection_only else "On"
    return (
        f"SecRuleEngine {engine}\n"
        "SecRequestBodyAccess On\n"
        "SecResponseBodyAccess On\n"
        "SecResponseBodyMimeType text/plain text/html text/xml application/json\n"
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" '
        '"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"\n'
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" '
        '"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"\n'
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/[a-z0-9.-]+[+]json" '
        '"id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"\n'
    )


def paranoia_setting(level: int) -> str:
    """CRS rule 900000 of crs-setup.conf: the paranoia level blocking applies at."""
    return f'SecAction "id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level={level}"\n'


class CrsDecider:
    """Decides with CRS alone; ``mode`` says what an anomaly-score block becomes."""

    def __init__(
        self,
        plan: Plan,
        *,
        mode: Mode = Mode.PREVENT,
        ban_seconds: float = 600.0,
        max_open: int = MAX_OPEN_TRANSACTIONS,
    ) -> None:
        self.plan = plan
        self.mode = mode
        self.ban_seconds = ban_seconds
        self._open: OrderedDict[int, tuple[HttpRequest, Transaction, int]] = OrderedDict()
        self._max_open = max_open
        self._ids = IncidentIds()

    @classmethod
    def load(
        cls,
        *,
        paranoia_level: int | None = None,
        mode: Mode = Mode.PREVENT,
        ban_seconds: float = 600.0,
        setup: Path | None = None,
        rules: Sequence[Path] = (),
    ) -> CrsDecider:
        """CRS as shipped, after :func:`crs_engine_settings`. ``setup`` replaces
        ``crs-setup.conf.example``; the paranoia level is then the setup's own unless
        ``paranoia_level`` is given (without a setup it defaults to 1). ``rules`` are read
        after CRS (exclusions, your own rules)."""
        loader = Loader()
        loader.load_text(
            crs_engine_settings(detection_only=mode is Mode.ALERT), file="<stockade-engine>"
        )
        loader.load_file(setup if setup is not None else crs_directory() / "crs-setup.conf.example")
        if paranoia_level is not None or setup is None:
            loader.load_text(paranoia_setting(paranoia_level or 1), file="<stockade-paranoia>")
        loader.load_files(crs_rule_files())
        loader.load_files(list(rules))
        return cls(Plan.build(loader.ruleset), mode=mode, ban_seconds=ban_seconds)

    # --- the Decider protocol -----------------------------------------------------------

    def decide_request(self, request: HttpRequest, *, now: float) -> Decision:
        if self.mode is Mode.DISABLED:
            return Decision(Action.ALLOW)
        transaction = Transaction(self.plan, request)
        transaction.process_request_headers()
        transaction.process_request_body()
        verdict = transaction.verdict()
        if not verdict.interrupted:
            self._remember(request, transaction, len(verdict.matched))
        return self._decision(request, verdict, verdict.matched, verdict.inbound_anomaly_score)

    def decide_response(
        self, request: HttpRequest, response: HttpResponse, *, now: float
    ) -> Decision:
        if self.mode is Mode.DISABLED:
            return Decision(Action.ALLOW)
        entry = self._open.pop(id(request), None)
        if entry is not None and entry[0] is request:
            _, transaction, seen = entry
        else:
            transaction = Transaction(self.plan, request)
            transaction.process_request_headers()
            transaction.process_request_body()
            seen = len(transaction.matched)
            if transaction.interrupted:
                return Decision(Action.ALLOW)
        transaction.process_response_headers(response)
        transaction.process_response_body()
        transaction.process_logging()
        verdict = transaction.verdict()
        # Only what the response phases added: the request's detections were reported.
        return self._decision(
            request, verdict, verdict.matched[seen:], verdict.outbound_anomaly_score
        )

    # --- helpers ------------------------------------------------------------------------

    def _remember(self, request: HttpRequest, transaction: Transaction, seen: int) -> None:
        self._open[id(request)] = (request, transaction, seen)
        while len(self._open) > self._max_open:
            self._open.popitem(last=False)

    def _decision(
        self,
        request: HttpRequest,
        verdict: Verdict,
        matched: Sequence[MatchedRule],
        score: int,
    ) -> Decision:
        logged = [m for m in matched if m.logged]
        if not logged and not verdict.interrupted:
            return Decision(Action.ALLOW)
        redactor = Redactor(request)
        detections = tuple(_detection(m, redactor) for m in logged)
        incident = self._ids.next()
        if verdict.interrupted and self.mode is Mode.PREVENT:
            return Decision(
                Action.DENY,
                status=verdict.status or 403,
                detections=detections,
                incident_id=incident,
                anomaly_score=score,
                extra={"rule_id": verdict.rule_id},
            )
        if verdict.interrupted and self.mode is Mode.BAN:
            return Decision(
                Action.BAN,
                status=verdict.status or 403,
                detections=detections,
                incident_id=incident,
                anomaly_score=score,
                ban_seconds=self.ban_seconds,
                extra={"rule_id": verdict.rule_id},
            )
        return Decision(
            Action.ALERT, detections=detections, incident_id=incident, anomaly_score=score
        )


def _detection(rule: MatchedRule, redactor: Redactor) -> Detection:
    return Detection(
        protection="crs",
        rule_id=str(rule.rule_id),
        message=redactor.text(rule.msg),
        location=rule.matched_var,
        matched=redactor.matched(rule.matched_var, rule.matched_value),
        severity=(rule.severity or "notice").lower(),
    )
