"""Regular expressions for ``@rx``: RE2 (linear time) when it accepts the pattern, else ``re``.

CRS v4 writes its patterns for RE2 (Coraza runs them on Go's ``regexp``), so nearly all of
them compile under RE2. A user's rule may use PCRE features RE2 refuses (backreferences,
lookaround); those fall back to Python's ``re``, which reads them the same way. Values are
Latin-1 ``str`` (one character per byte); RE2 runs on the same bytes with its Latin-1
encoding, so offsets and captures agree between the two engines.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Final


def _load_re2() -> Any:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


_RE2: Final[Any] = _load_re2()
_RAW: Final[Any] = getattr(_RE2, "_re2", None)
"""google-re2's binding of ``RE2`` itself (spans, no match objects); None if it moves."""
_UNANCHORED: Final[Any] = _RAW.RE2.Anchor.UNANCHORED if _RAW is not None else None
_RE2_MAX_MEM: Final = 64 << 20
_CAPTURE_MEMO_ENTRIES: Final = 256
_CAPTURE_MEMO_LENGTH: Final = 256
_SET_MAX_MEM: Final = 32 << 20
"""A bound, not an allocation: the program of a set (a few MiB for CRS's largest) plus the
DFA's state cache, which RE2 clears and refills when full."""


class Regex:
    """One compiled pattern with ``search`` and ``captures`` over Latin-1 values.

    On RE2 the module's own search wrapper (a generator and a match object per call) is
    bypassed: ``search`` asks a second, capture-free compilation of the pattern for the
    match span alone, which RE2 answers from its DFA; ``captures`` asks the capturing one
    for every group's span.
    """

    __slots__ = (
        "_captured",
        "_compiled",
        "_re2",
        "_spans",
        "_test",
        "engine",
        "ignore_case",
        "pattern",
    )

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        self._re2: Any = None
        self._test: Any = None
        self._spans: Any = None
        self._captured: dict[str, list[str] | None] = {}
        self._compiled: re.Pattern[str] | None = None
        self.engine = "re"
        if _RE2 is not None:
            # PCRE's '.' in ModSecurity does not match a newline either; keep RE2's default.
            options = _re2_options(case_sensitive=not ignore_case)
            data = pattern.encode("latin-1", "replace")
            try:
                self._re2 = _RE2.compile(data, options)
                self.engine = "re2"
            except Exception:
                self._re2 = None
            if self._re2 is not None and _RAW is not None:
                self._spans = getattr(self._re2, "_regexp", None)
                options.never_capture = True
                test = _RAW.RE2(data, options)
                self._test = test if test.ok() else None
        if self._re2 is None:
            flags = re.IGNORECASE if ignore_case else 0
            self._compiled = re.compile(_pcre_to_python(pattern), flags)

    def search(self, value: str) -> bool:
        test = self._test
        if test is not None:
            data = value.encode("latin-1")
            found: int = test.Match(_UNANCHORED, data, 0, len(data))[0][0]
            return found >= 0
        if self._re2 is not None:
            return self._re2.search(value.encode("latin-1")) is not None
        compiled = self._compiled
        return compiled is not None and compiled.search(value) is not None

    def captures(self, value: str) -> list[str] | None:
        """The whole match and up to nine groups, or None when there is no match (a new
        list each time; short values' results are remembered)."""
        known = self._captured
        if value in known:
            found = known[value]
            return None if found is None else list(found)
        groups = self._captures(value)
        if len(value) <= _CAPTURE_MEMO_LENGTH:
            if len(known) >= _CAPTURE_MEMO_ENTRIES:
                known.clear()
            known[value] = None if groups is None else list(groups)
        return groups

    def _captures(self, value: str) -> list[str] | None:
        spans = self._spans
        if spans is not None:
            data = value.encode("latin-1")
            found: list[tuple[int, int]] = spans.Match(_UNANCHORED, data, 0, len(data))
            if found[0][0] < 0:
                return None
            return [data[start:end].decode("latin-1") for start, end in found[:10]]
        if self._re2 is not None:
            match = self._re2.search(value.encode("latin-1"))
            if match is None:
                return None
            groups = [match.group(0), *match.groups()][:10]
            return [(g or b"").decode("latin-1") for g in groups]
        compiled = self._compiled
        matched = compiled.search(value) if compiled is not None else None
        if matched is None:
            return None
        return [g or "" for g in [matched.group(0), *matched.groups()][:10]]


class RegexSet:
    """Many RE2 patterns searched at once: one pass over a value names every pattern that
    matches it (an ``RE2::Set``, unanchored).

    The set is compiled with the options each :class:`Regex` uses (Latin-1), a
    case-insensitive pattern carrying ``(?i)``, so a value is reported for a pattern exactly
    when ``Regex.search`` would find it. Only patterns RE2 runs can join; ``add`` returns
    None for the others. RE2 runs a set on its DFA, which for a set never gives up on a slow
    input (it clears its state cache and goes on, in linear time); it can only fail when
    its memory bound cannot hold a handful of states. Index 0 is an empty pattern that
    matches every value, so such a failure shows as a result without it and ``match``
    answers None: the caller then evaluates every rule.
    """

    __slots__ = ("_set", "compiled", "size")

    def __init__(self) -> None:
        self._set: Any = None
        self.size = 0
        self.compiled = False
        if _RE2 is not None:
            options = _re2_options(case_sensitive=True, max_mem=_SET_MAX_MEM)
            self._set = _RE2.Set.SearchSet(options)
            self._set.Add(b"")

    def add(self, regex: Regex) -> int | None:
        """Add ``regex``; its index (from 1) in match results, or None when the set cannot
        hold it."""
        if self._set is None or self.compiled or regex.engine != "re2":
            return None
        pattern = ("(?i)" if regex.ignore_case else "") + regex.pattern
        try:
            index: int = self._set.Add(pattern.encode("latin-1", "replace"))
        except Exception:
            return None
        self.size += 1
        return index

    def compile(self) -> bool:
        """Freeze the set; False when RE2 cannot build it (the caller falls back)."""
        if self._set is None or self.size == 0:
            return False
        try:
            self._set.Compile()
        except Exception:
            return False
        self.compiled = True
        return True

    def match(self, value: str) -> set[int] | None:
        """Indices of the patterns found in ``value`` (with 0, the always-matching pattern),
        or None when RE2 could not run the set."""
        found = self._set.Match(value.encode("latin-1"))
        if not found:
            return None
        hits = set(found)
        return hits if 0 in hits else None


def _re2_options(*, case_sensitive: bool, max_mem: int = _RE2_MAX_MEM) -> Any:
    options = _RE2.Options()
    options.max_mem = max_mem
    options.log_errors = False
    options.encoding = _RE2.Options.Encoding.LATIN1
    options.case_sensitive = case_sensitive
    return options


def _pcre_to_python(pattern: str) -> str:
    """The few PCRE spellings Python's ``re`` writes differently."""
    pattern = re.sub(r"\\x\{([0-9a-fA-F]{1,2})\}", lambda m: "\\x" + m.group(1).zfill(2), pattern)
    pattern = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    return pattern.replace("\\z", "\\Z")


def compile_regex(pattern: str, *, ignore_case: bool = False) -> Regex:
    """Compile ``pattern``; raises ``re.error`` when no engine accepts it."""
    return Regex(pattern, ignore_case=ignore_case)
