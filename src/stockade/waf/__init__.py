"""Layer-7 protection: the SecLang rule engine (sans-io) and OWASP CRS v4 as shipped."""

from stockade.waf.crs import crs_plan, load_crs
from stockade.waf.errors import RequestError, SecLangError, WafError
from stockade.waf.request import HttpRequest, HttpResponse
from stockade.waf.seclang.engine import MatchedRule, Plan, Transaction, Verdict, evaluate
from stockade.waf.seclang.loader import Loader, RuleSet

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "Loader",
    "MatchedRule",
    "Plan",
    "RequestError",
    "RuleSet",
    "SecLangError",
    "Transaction",
    "Verdict",
    "WafError",
    "crs_plan",
    "evaluate",
    "load_crs",
]
