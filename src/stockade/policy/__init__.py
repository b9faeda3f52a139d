"""Policy over findings: the ignore file, VEX statements, and the CI gate.

    from datetime import date
    from stockade.policy import apply_ignores, apply_vex, load_ignore_file, load_vex, verdict

    findings = apply_vex(result.findings, [load_vex("app.openvex.json")])
    findings, notices = apply_ignores(findings, load_ignore_file(".stockadeignore.yaml"),
                                      today=date.today())
    ok = verdict(findings, fail_on=Severity.HIGH)

Everything here is pure except the two ``load_…`` functions, which read one file each.
"""

from stockade.policy.errors import IgnoreFileError, PolicyError, VexError
from stockade.policy.gate import failing_findings, filter_findings, has_fix, verdict
from stockade.policy.ignore import (
    IGNORE_FILE_NAME,
    IgnoreEntry,
    IgnoreNotice,
    apply_ignores,
    load_ignore_file,
    parse_ignore_file,
)
from stockade.policy.purls import purl_matches
from stockade.policy.vex import (
    VexDocument,
    VexFormat,
    VexProduct,
    VexStatement,
    VexStatus,
    apply_vex,
    load_vex,
    parse_vex,
    vex_from_json,
)

__all__ = [
    "IGNORE_FILE_NAME",
    "IgnoreEntry",
    "IgnoreFileError",
    "IgnoreNotice",
    "PolicyError",
    "VexDocument",
    "VexError",
    "VexFormat",
    "VexProduct",
    "VexStatement",
    "VexStatus",
    "apply_ignores",
    "apply_vex",
    "failing_findings",
    "filter_findings",
    "has_fix",
    "load_ignore_file",
    "load_vex",
    "parse_ignore_file",
    "parse_vex",
    "purl_matches",
    "verdict",
    "vex_from_json",
]
