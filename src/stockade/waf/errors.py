"""Errors of the web application firewall: one base, one subclass per kind of failure."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class WafError(StockadeError):
    """Base of every error the WAF raises on purpose."""


class SecLangError(WafError):
    """A SecLang rule file is malformed: says which file and line."""

    def __init__(self, message: str, *, file: str = "<string>", line: int = 0) -> None:
        super().__init__(
            f"{file}:{line}: {message}",
            hint="fix the directive at that line, or leave the file out of the rule set",
        )
        self.file = file
        self.line = line
        self.reason = message


class RequestError(WafError):
    """An HTTP request (or its body) cannot be parsed into the request model."""
