"""Errors of secret detection: one base for the subsystem, one for bad rules."""

from __future__ import annotations

from stockade.core.errors import StockadeError


class SecretsError(StockadeError):
    """Secret detection could not run as asked."""


class RuleError(SecretsError):
    """A rules file (gitleaks TOML format) or one rule in it is invalid.

    ``rule_id`` names the rule when the problem is in one; ``source`` is the file.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        rule_id: str | None = None,
        source: str | None = None,
    ) -> None:
        where = f"{source}: " if source else ""
        rule = f"rule {rule_id!r}: " if rule_id else ""
        super().__init__(
            f"{where}{rule}{message}",
            hint
            or "fix the rule, or leave it out; the gitleaks config format is described "
            "in docs/secrets.md",
        )
        self.rule_id = rule_id
        self.source = source
