"""The OWASP Core Rule Set v4 as shipped (``waf/data/crs/``), loaded into a rule set."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from stockade.waf.seclang.engine import Plan
from stockade.waf.seclang.loader import Loader, RuleSet

CRS_VERSION = "4.29.0-dev"


def crs_directory() -> Path:
    """Where the shipped CRS lives: ``crs-setup.conf.example`` and ``rules/``."""
    return Path(str(resources.files("stockade.waf") / "data" / "crs"))


def crs_rule_files(directory: Path | None = None) -> list[Path]:
    """The rule files in CRS's load order (the ``.conf`` files sorted by name)."""
    root = directory if directory is not None else crs_directory()
    return sorted((root / "rules").glob("*.conf"))


def load_crs(
    *,
    before: str = "",
    after: str = "",
    directory: Path | None = None,
    setup: Path | None = None,
) -> RuleSet:
    """CRS with its setup file; ``before`` is SecLang read after the setup and before the
    rules (engine settings, CRS variables), ``after`` is read last (exclusions)."""
    root = directory if directory is not None else crs_directory()
    loader = Loader()
    loader.load_file(setup if setup is not None else root / "crs-setup.conf.example")
    if before:
        loader.load_text(before, file="<before-crs>")
    loader.load_files(crs_rule_files(root))
    if after:
        loader.load_text(after, file="<after-crs>")
    return loader.ruleset


def crs_plan(*, paranoia_level: int = 1, engine_mode: str = "On", extra: str = "") -> Plan:
    """A ready :class:`Plan` of CRS at ``paranoia_level`` (blocking and detection)."""
    before = (
        f"SecRuleEngine {engine_mode}\n"
        "SecRequestBodyAccess On\n"
        'SecAction "id:900000,phase:1,pass,nolog,'
        f'setvar:tx.blocking_paranoia_level={paranoia_level}"\n'
        f"{extra}"
    )
    return Plan.build(load_crs(before=before))
