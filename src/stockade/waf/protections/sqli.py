"""SQL injection: libinjection's tokenizer and fingerprints, plus a few SQL-only idioms.

libinjection judges each argument, argument name, cookie, cookie name, XML text, the
User-Agent and Referer, and the path, as sent and decoded again. A short list of
patterns adds what fingerprints miss by design: time-based probes (``sleep(``,
``waitfor delay``), catalogue tables, file functions and MySQL's executable comments.
"""

from __future__ import annotations

import re
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import (
    PatternRule,
    PatternSet,
    VerdictMemo,
    detection,
    first_match,
    snippet,
)
from stockade.waf.protections.libinjection_c import sqli_fingerprint
from stockade.waf.protections.view import (
    ARG,
    ARG_NAME,
    COOKIE,
    COOKIE_NAME,
    PATH,
    XML,
    Input,
    RequestView,
)

__all__ = ["SqlInjection"]


PLAIN: Final = re.compile(r"[A-Za-z0-9_.]*\Z").match
"""Values libinjection never flags (letters, digits, ``_`` and ``.`` only): skipped."""

INSPECTED_HEADERS: Final = frozenset({"user-agent", "referer"})
KINDS: Final = frozenset({ARG, ARG_NAME, COOKIE, COOKIE_NAME, PATH, XML})

_IDIOMS: Final = PatternSet(
    PatternRule(
        "sqli.time-based",
        "SQL time-based probe",
        r"\b(?:sleep|pg_sleep|benchmark|dbms_lock\.sleep|dbms_pipe\.receive_message)"
        r"\s*\(|\bwaitfor\s+(?:delay|time)\s+['\"\d]",
        ("sleep", "benchmark", "waitfor", "dbms_"),
    ),
    PatternRule(
        "sqli.catalogue",
        "SQL catalogue, file or procedure access",
        r"\b(?:information_schema|sysobjects|syscolumns|sysdatabases|pg_catalog|pg_shadow|"
        r"pg_user|mysql\.user|sqlite_master|sqlite_schema|all_tables|user_tables|"
        r"xp_cmdshell|xp_regread|sp_executesql|sp_oacreate|sp_makewebtask|utl_http|"
        r"utl_inaddr|load_file|into\s+(?:out|dump)file|lo_import|lo_export|"
        r"pg_read_file|copy\s+\w+\s+(?:from|to)\s+program|msdb|mysql\.db|"
        r"sys\.(?:objects|tables|columns|databases|sql_logins))\b",
        (
            "information_schema",
            "sysobjects",
            "syscolumns",
            "sysdatabases",
            "sys.",
            "pg_",
            "mysql",
            "sqlite",
            "all_tables",
            "user_tables",
            "xp_",
            "sp_",
            "utl_",
            "load_file",
            "outfile",
            "dumpfile",
            "lo_import",
            "lo_export",
            "program",
            "msdb",
        ),
    ),
    PatternRule(
        "sqli.json",
        "SQL JSON operator or cast",
        r"'\s*::\s*jsonb?\b|::\s*jsonb?\s*(?:@>|<@|\?|->|#>)",
        ("::",),
    ),
    PatternRule(
        "sqli.union",
        "SQL UNION SELECT",
        r"\bunion\b[\s(]*(?:all\b|distinct\b)?[\s(]*select\b",
        ("union",),
    ),
    PatternRule(
        "sqli.select",
        "SQL SELECT statement or subquery",
        r"\bselect\s+(?:\*|\w+\s*,\s*\w+|count\s*\(|top\s+\d|distinct\s|null\b|@@|"
        r"(?:group_)?concat\s*\(|char\s*\(|\d+\s*(?:,|from\b))|\bin\s*\(\s*select\b|"
        r"\bfrom\s+[\w.`\"\[\]]+\s+where\s+[\w.`\"\[\]]+\s*(?:[=<>]|like\b|in\s*\()",
        ("select", "from"),
    ),
    PatternRule(
        "sqli.comment",
        "SQL executable or inline comment evasion",
        r"/\*!\d{0,5}\s*\w|\w/\*\*/\w|'\s*(?:--|#|/\*)|\bor\b\s*\d+\s*=\s*\d+\s*--",
        ("/*", "'", "--"),
    ),
    PatternRule(
        "sqli.tautology",
        "SQL tautology after a quote",
        r"['\"`)]\s*(?:or|and|xor|\|\||&&)\s*\(?\s*['\"`]?[\w@]+['\"`]?\s*(?:[=<>!]=?|like\b|"
        r"rlike\b|regexp\b|is\b|in\s*\(|between\b)|['\"`]\s*(?:or|and|xor|\|\||&&)\s+(?:not\s+)?"
        r"[a-z_][\w.]{1,40}\s*\(",
        ("'", '"', "`", ")"),
    ),
    PatternRule(
        "sqli.stacked",
        "SQL stacked query",
        r";\s*(?:drop|truncate|alter|create)\s+(?:table|database|schema|user|procedure|"
        r"function|view|index)\b|;\s*(?:delete\s+from|insert\s+into|update\s+\w+\s+set|"
        r"exec(?:ute)?\s+\w|declare\s+@|shutdown\b)",
        (";",),
    ),
    PatternRule(
        "sqli.function",
        "SQL fingerprinting function",
        r"@@(?:version|datadir|hostname|basedir|servername)\b|\b(?:version|database|"
        r"current_user|session_user|system_user|user|schema)\s*\(\s*\)|\b(?:extractvalue|"
        r"updatexml|group_concat|concat_ws|make_set|elt|exp|floor\s*\(\s*rand)\s*\(.{0,80}"
        r"(?:select|0x|@@|concat|version|database|user)",
        (
            "@@",
            "()",
            "( )",
            "extractvalue",
            "updatexml",
            "concat",
            "make_set",
            "elt(",
            "elt (",
            "exp(",
            "exp (",
            "floor",
        ),
    ),
)
NAME_KINDS: Final = frozenset({ARG_NAME})
_NOSQL: Final = re.compile(
    r"(?:^|[.\[])\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|elemmatch|nor|or|and|not|"
    r"expr|type|size|all|mod|text|function|accumulator|lookup|jsonschema)\b"
)


class SqlInjection:
    """Detects SQL injection in arguments, cookies, XML, the path, User-Agent and Referer."""

    name = "sqli"

    def __init__(self) -> None:
        self._memo = VerdictMemo()
        self._path_memo = VerdictMemo()

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.suspects:
            if item.kind in KINDS:
                hit = (
                    self._path_memo.check(item, self._check)
                    if item.kind == PATH
                    else self._check(item)
                )
                if hit is not None:
                    found.append(hit)
        for item in view.header_inputs:
            if item.name in INSPECTED_HEADERS and not PLAIN(item.value):
                hit = self._memo.check(item, self._check)
                if hit is not None:
                    found.append(hit)
        return found

    def _check(self, item: Input) -> Detection | None:
        if item.kind in NAME_KINDS and "$" in item.value:
            match = _NOSQL.search(item.value.lower())
            if match:
                return detection(
                    self.name,
                    "sqli.nosql",
                    "NoSQL query operator in a parameter name",
                    item,
                    matched=snippet(item.value),
                )
        for form in () if PLAIN(item.value) else item.forms():
            fingerprint = sqli_fingerprint(form)
            if fingerprint is not None:
                return detection(
                    self.name,
                    "sqli.libinjection",
                    f"SQL injection (libinjection fingerprint {fingerprint})",
                    item,
                    matched=snippet(form),
                )
        for form in item.forms():
            lowered = form.lower()
            found = first_match(_IDIOMS, lowered)
            if found is not None:
                rule, match = found
                return detection(
                    self.name,
                    rule.rule_id,
                    rule.message,
                    item,
                    matched=snippet(form, match.start(), match.end()),
                )
        return None
