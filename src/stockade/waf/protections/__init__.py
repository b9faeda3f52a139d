"""Native protections: fast, sans-io detectors that need no rule set.

Each protection reads one :class:`RequestView` (a request taken apart and decoded once)
and returns :class:`~stockade.waf.decision.Detection` s; the policy
(:mod:`stockade.waf.policy`) applies modes and exceptions. Adding a protection is adding
a module with a class that has ``name`` and ``inspect(view)``, and a line in
:data:`NATIVE_PROTECTIONS`.
"""

from __future__ import annotations

from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.cmdi import CommandInjection
from stockade.waf.protections.code import CodeInjection
from stockade.waf.protections.interface import Protection
from stockade.waf.protections.lfi import FileInclusion
from stockade.waf.protections.protocol import ProtocolSettings, ProtocolValidation
from stockade.waf.protections.scanner import ScannerDetection, default_user_agents
from stockade.waf.protections.shellshock import Shellshock
from stockade.waf.protections.sqli import SqlInjection
from stockade.waf.protections.view import DEFAULT_BODY_LIMIT, Input, RequestView
from stockade.waf.protections.xss import CrossSiteScripting

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "NATIVE_PROTECTIONS",
    "CodeInjection",
    "CommandInjection",
    "CrossSiteScripting",
    "FileInclusion",
    "Input",
    "Protection",
    "ProtocolSettings",
    "ProtocolValidation",
    "RequestView",
    "ScannerDetection",
    "Shellshock",
    "SqlInjection",
    "default_protections",
    "default_user_agents",
    "inspect_all",
]

NATIVE_PROTECTIONS: Final = (
    "protocol",
    "scanner",
    "shellshock",
    "lfi",
    "sqli",
    "xss",
    "cmdi",
    "code",
)
"""The native protections' ids, in the order the policy runs them (cheapest first)."""


def default_protections() -> list[Protection]:
    """Every native protection with its default settings, in :data:`NATIVE_PROTECTIONS`
    order."""
    return [
        ProtocolValidation(),
        ScannerDetection(),
        Shellshock(),
        FileInclusion(),
        SqlInjection(),
        CrossSiteScripting(),
        CommandInjection(),
        CodeInjection(),
    ]


def inspect_all(view: RequestView, protections: list[Protection]) -> list[Detection]:
    """Every detection of ``protections`` on ``view``, in protection order."""
    found: list[Detection] = []
    for protection in protections:
        found.extend(protection.inspect(view))
    return found
