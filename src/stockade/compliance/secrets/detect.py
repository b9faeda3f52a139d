"""Finding secrets in text with a compiled rule set: the pure core of secret detection.

For one fragment of text (a file, or a ~100 kB chunk of a large one) a
:class:`Detector` does what gitleaks' detector does, in the same order:

1. **keyword pre-filter** — one pass over the lowercased text finds which rule keywords
   occur (RE2's multi-pattern ``Set``, or one trie-shaped ``re``); only rules with a
   keyword present (or with no keywords) run, so 200+ rules do not each read every file;
2. the rule's **path** pattern and path **allowlists** (a file can be out of scope);
3. the rule's **regex**, every match; the secret is ``secretGroup`` (or the first
   non-empty group); a line carrying ``gitleaks:allow`` (or detect-secrets'
   ``pragma: allowlist secret``) is skipped;
4. **Shannon entropy** of the secret must exceed the rule's ``entropy``;
5. global, then rule **allowlists** (regexes against the secret, match or line; stop
   words; ``condition`` OR/AND);
6. **composite** rules keep a finding only when their required rules also find
   something nearby; a ``generic`` finding gives way to a specific rule's finding of the
   same secret on the same line.

A :class:`Detection` holds the secret in memory only as long as the scan needs it; it
never prints it, and the scanner keeps only :func:`redact`'s prefix.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from stockade.compliance.secrets import syntax
from stockade.compliance.secrets.config import default_rules, parse_pattern
from stockade.compliance.secrets.engine import Deadline, Engine, Pattern, ScanText, select_engine
from stockade.compliance.secrets.errors import RuleError
from stockade.compliance.secrets.model import Allowlist, Condition, RegexTarget, Rule, RuleSet

INLINE_ALLOW: Final = ("gitleaks:allow", "pragma: allowlist secret")
"""Markers that allow every finding on their line: gitleaks' own, and detect-secrets'."""
REDACTION: Final = "****"
MAX_SHOWN: Final = 4


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for the empty string)."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(count / size * math.log2(count / size) for count in Counter(text).values())


def redact(secret: str) -> str:
    """A prefix that identifies the secret to its owner without giving it away.

    At most four characters, and never more than a quarter of the secret, then ``****``.
    """
    shown = min(MAX_SHOWN, len(secret) // 4)
    return secret[:shown] + REDACTION


@dataclass(frozen=True, slots=True)
class Detection:
    """A secret found by one rule. ``line`` is 1-based; 0 means the whole file (a rule
    that matches on the path alone)."""

    rule: Rule
    line: int
    column: int
    secret: str = field(repr=False)
    match: str = field(repr=False)
    entropy: float | None

    @property
    def redacted(self) -> str:
        return redact(self.secret) if self.secret else ""


@dataclass(frozen=True, slots=True)
class _CompiledAllowlist:
    allowlist: Allowlist
    paths: Pattern | None
    regexes: Pattern | None

    def path_allowed(self, path: str) -> bool:
        return bool(path) and self.paths is not None and self.paths.search(path)

    def file_allowed(self, path: str) -> bool:
        """gitleaks' fragment-level check: commits and paths only."""
        a = self.allowlist
        if a.condition is Condition.AND:
            if a.regexes or a.stopwords:
                return False  # decided per finding
            checks = [False] if a.commits else []  # no commits outside git history
            if a.paths:
                checks.append(self.path_allowed(path))
            return bool(checks) and all(checks)
        return self.path_allowed(path)

    def finding_allowed(self, path: str, secret: str, match: str, line: Callable[[], str]) -> bool:
        a = self.allowlist
        regex_ok = False
        if self.regexes is not None:
            if a.regex_target is RegexTarget.LINE:
                target = line()
            else:
                target = match if a.regex_target is RegexTarget.MATCH else secret
            regex_ok = bool(target) and self.regexes.search(target)
        stop_ok = False
        if a.stopwords and secret:
            lowered = secret.lower()
            stop_ok = any(word in lowered for word in a.stopwords)
        if a.condition is Condition.AND:
            checks: list[bool] = []
            if a.commits:
                checks.append(False)
            if a.paths:
                checks.append(self.path_allowed(path))
            if a.regexes:
                checks.append(regex_ok)
            if a.stopwords:
                checks.append(stop_ok)
            return bool(checks) and all(checks)
        return regex_ok or stop_ok


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    regex: Pattern | None
    path: Pattern | None
    allowlists: tuple[_CompiledAllowlist, ...]


class Detector:
    """A rule set compiled for one regular-expression engine."""

    def __init__(self, rules: RuleSet | None = None, engine: str | Engine = "auto") -> None:
        self.rules = rules if rules is not None else default_rules()
        self.engine = select_engine(engine)
        cache: dict[Allowlist, _CompiledAllowlist] = {}
        self._global = tuple(self._allowlist(a, cache, rule_id=None) for a in self.rules.allowlists)
        self._rules = tuple(self._rule(rule, cache) for rule in self.rules.rules)
        self._index = {c.rule.id: i for i, c in enumerate(self._rules)}
        by_keyword: dict[str, set[int]] = {}
        always: set[int] = set()
        for i, compiled in enumerate(self._rules):
            if compiled.regex is None:
                continue  # path-only rules run once per file: detect_path
            if not compiled.rule.keywords:
                always.add(i)
            for keyword in compiled.rule.keywords:
                by_keyword.setdefault(keyword, set()).add(i)
        self._always = frozenset(always)
        self._by_keyword = {k: frozenset(v) for k, v in by_keyword.items()}
        self._keywords = self.engine.keyword_index(sorted(by_keyword))
        self._path_only = tuple(i for i, c in enumerate(self._rules) if c.regex is None)

    def _compile(self, patterns: Sequence[str], rule_id: str | None, what: str) -> Pattern | None:
        if not patterns:
            return None
        try:
            regexes = [parse_pattern(p) for p in patterns]
            if len(regexes) == 1 and what in ("regex", "path"):
                return self.engine.compile(regexes[0])
            return self.engine.compile_any(regexes)
        except syntax.RegexSyntaxError as exc:
            raise RuleError(
                f"|{what}| cannot be compiled by the {self.engine.name} engine: {exc}",
                "install google-re2 for the RE2 engine, or change the pattern",
                rule_id=rule_id,
                source=self.rules.source,
            ) from exc

    def _allowlist(
        self, allowlist: Allowlist, cache: dict[Allowlist, _CompiledAllowlist], rule_id: str | None
    ) -> _CompiledAllowlist:
        compiled = cache.get(allowlist)
        if compiled is None:
            compiled = _CompiledAllowlist(
                allowlist,
                paths=self._compile(allowlist.paths, rule_id, "allowlist paths"),
                regexes=self._compile(allowlist.regexes, rule_id, "allowlist regexes"),
            )
            cache[allowlist] = compiled
        return compiled

    def _rule(self, rule: Rule, cache: dict[Allowlist, _CompiledAllowlist]) -> _CompiledRule:
        return _CompiledRule(
            rule=rule,
            regex=self._compile([rule.regex] if rule.regex else [], rule.id, "regex"),
            path=self._compile([rule.path] if rule.path else [], rule.id, "path"),
            allowlists=tuple(self._allowlist(a, cache, rule.id) for a in rule.allowlists),
        )

    # -- whole files

    def file_allowed(self, path: str) -> bool:
        """Whether a global allowlist puts the file at ``path`` out of scope."""
        return any(a.file_allowed(path) for a in self._global)

    def detect_path(self, path: str) -> list[Detection]:
        """Findings of rules that match on the path alone (a ``.p12`` file, say)."""
        found: list[Detection] = []
        for i in self._path_only:
            compiled = self._rules[i]
            if compiled.rule.skip_report or compiled.path is None:
                continue
            if any(a.file_allowed(path) for a in compiled.allowlists):
                continue
            if compiled.path.search(path):
                found.append(Detection(compiled.rule, 0, 0, "", "", None))
        return found

    # -- fragments

    def detect(
        self,
        text: str,
        path: str = "",
        *,
        first_line: int = 1,
        deadline: Deadline | None = None,
    ) -> list[Detection]:
        """Secrets in one fragment of text; ``first_line`` is the number of its first line.

        Raises :class:`~stockade.compliance.secrets.engine.DeadlineExceeded` when
        ``deadline`` passes (the scanner reports the file as cut short).
        """
        if not text:
            return []
        scan = ScanText(text)
        selected = set(self._always)
        for keyword in self._keywords.present(scan.lowered):
            selected |= self._by_keyword[keyword]
        results: dict[int, list[Detection]] = {}

        def run(index: int) -> list[Detection]:
            if index not in results:
                results[index] = self._run(self._rules[index], scan, path, first_line, deadline)
            return results[index]

        found: list[Detection] = []
        for index in sorted(selected):
            rule = self._rules[index].rule
            if rule.skip_report:
                continue
            detections = run(index)
            if rule.required and detections:
                detections = self._composite(rule, detections, run)
            found.extend(detections)
        return _prefer_specific(found)

    def _run(
        self,
        compiled: _CompiledRule,
        scan: ScanText,
        path: str,
        first_line: int,
        deadline: Deadline | None,
    ) -> list[Detection]:
        rule = compiled.rule
        if compiled.regex is None:
            return []
        if any(a.file_allowed(path) for a in compiled.allowlists):
            return []
        if compiled.path is not None and not compiled.path.search(path):
            return []
        text = scan.text
        lines = _Lines(text, first_line)
        found: list[Detection] = []
        for hit in compiled.regex.finditer(scan, deadline):
            start, end = hit.start, hit.end
            while start < end and text[start] == "\n":
                start += 1
            while end > start and text[end - 1] == "\n":
                end -= 1
            if start == end:
                continue
            line_number, line_start = lines.advance(start)
            line_end = lines.end_of_line(end)
            if lines.inline_allow(line_start, line_end):
                continue
            match = text[start:end]
            secret = _secret(rule, hit.groups, match)
            if not secret:
                continue
            entropy = shannon_entropy(secret)
            if rule.entropy and entropy <= rule.entropy:
                continue
            line = functools.partial(lines.text_of, line_start, line_end)
            if any(a.finding_allowed(path, secret, match, line) for a in self._global):
                continue
            if any(a.finding_allowed(path, secret, match, line) for a in compiled.allowlists):
                continue
            found.append(
                Detection(
                    rule=rule,
                    line=line_number,
                    column=start - line_start + 1,
                    secret=secret,
                    match=match,
                    entropy=entropy,
                )
            )
        return found

    def _composite(
        self,
        rule: Rule,
        primary: list[Detection],
        run: Callable[[int], list[Detection]],
    ) -> list[Detection]:
        companions = {req.rule_id: run(self._index[req.rule_id]) for req in rule.required}
        kept: list[Detection] = []
        for detection in primary:
            satisfied = all(
                any(
                    (req.within_lines is None or abs(detection.line - c.line) <= req.within_lines)
                    and (
                        req.within_columns is None
                        or abs(detection.column - c.column) <= req.within_columns
                    )
                    for c in companions[req.rule_id]
                )
                for req in rule.required
            )
            if satisfied:
                kept.append(detection)
        return kept


class _Lines:
    """Line numbers and line bounds for offsets visited in increasing order.

    Counting from the start of the text for every match would be quadratic on a long
    single line full of matches; each offset here is read once per rule.
    """

    __slots__ = ("_allowed", "_line", "_line_start", "_next_newline", "_pos", "text")

    def __init__(self, text: str, first_line: int) -> None:
        self.text = text
        self._pos = 0
        self._line = first_line
        self._line_start = 0
        self._next_newline = -1
        self._allowed: dict[tuple[int, int], bool] = {}

    def advance(self, offset: int) -> tuple[int, int]:
        """The line number of ``offset`` and where that line starts."""
        newlines = self.text.count("\n", self._pos, offset)
        if newlines:
            self._line += newlines
            self._line_start = self.text.rfind("\n", self._pos, offset) + 1
        self._pos = offset
        return self._line, self._line_start

    def end_of_line(self, offset: int) -> int:
        """Where the line holding ``offset`` ends (its newline, or the end of the text)."""
        if self._next_newline < offset:
            found = self.text.find("\n", offset)
            self._next_newline = len(self.text) if found < 0 else found
        return self._next_newline

    def inline_allow(self, start: int, end: int) -> bool:
        key = (start, end)
        allowed = self._allowed.get(key)
        if allowed is None:
            allowed = any(self.text.find(marker, start, end) >= 0 for marker in INLINE_ALLOW)
            self._allowed[key] = allowed
        return allowed

    def text_of(self, start: int, end: int) -> str:
        return self.text[start:end]


def _secret(rule: Rule, groups: tuple[str | None, ...], match: str) -> str:
    if not groups:
        return match
    if rule.secret_group > 0:
        return groups[rule.secret_group - 1] or ""
    return next((g for g in groups if g), match)


def _is_generic(rule: Rule) -> bool:
    return "generic" in rule.id.lower()


def _prefer_specific(found: list[Detection]) -> list[Detection]:
    """Drop a generic finding when a specific rule found the same secret on its line."""
    if not any(_is_generic(d.rule) for d in found):
        return found
    kept = []
    for d in found:
        if _is_generic(d.rule) and any(
            other.line == d.line
            and other.rule.id != d.rule.id
            and not _is_generic(other.rule)
            and d.secret in other.secret
            for other in found
        ):
            continue
        kept.append(d)
    return kept
