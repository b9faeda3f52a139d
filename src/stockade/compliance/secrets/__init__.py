"""Secret detection in images, filesystems and function packages, with gitleaks rules.

Quick use::

    from stockade.compliance.secrets import load_rules, scan_secrets

    findings = scan_secrets("image.tar", load_rules())     # or a Source, a directory, a zip
    for f in findings:
        print(f.file, f.line, f.rule_id, f.redacted)       # never the whole secret

``load_rules(path)`` reads a gitleaks TOML file (``.gitleaks.toml``); ``load_rules()``
gives gitleaks' default rules, shipped in the package; ``builtin_rules("thorough")`` the
opt-in profile that adds detect-secrets-like rules (see ``BUILTIN_PROFILES``).
``scan_target`` is what the CLI calls; ``Detector`` is the pure core for text already in
memory. See docs/secrets.md.
"""

from stockade.compliance.secrets.config import (
    BUILTIN_PROFILES,
    builtin_rules,
    builtin_rules_path,
    default_rules,
    default_rules_path,
    load_rules,
    parse_rules,
)
from stockade.compliance.secrets.detect import Detection, Detector, redact, shannon_entropy
from stockade.compliance.secrets.engine import ENGINE_NAMES, re2_available
from stockade.compliance.secrets.errors import RuleError, SecretsError
from stockade.compliance.secrets.model import (
    Allowlist,
    Condition,
    RegexTarget,
    Required,
    Rule,
    RuleId,
    RuleSet,
)
from stockade.compliance.secrets.scan import (
    ScanOptions,
    SecretScanResult,
    scan_secrets,
    scan_source,
    scan_target,
    scan_text,
)

__all__ = [
    "BUILTIN_PROFILES",
    "ENGINE_NAMES",
    "Allowlist",
    "Condition",
    "Detection",
    "Detector",
    "RegexTarget",
    "Required",
    "Rule",
    "RuleError",
    "RuleId",
    "RuleSet",
    "ScanOptions",
    "SecretScanResult",
    "SecretsError",
    "builtin_rules",
    "builtin_rules_path",
    "default_rules",
    "default_rules_path",
    "load_rules",
    "parse_rules",
    "re2_available",
    "redact",
    "scan_secrets",
    "scan_source",
    "scan_target",
    "scan_text",
    "shannon_entropy",
]
