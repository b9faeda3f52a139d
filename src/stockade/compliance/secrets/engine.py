"""Regular-expression engines: RE2 (``google-re2``) when installed, else Python's ``re``.

Both read Go's RE2 syntax through :mod:`~stockade.compliance.secrets.syntax` first, so a
pattern is accepted or refused the same way whichever engine runs it, and both report
matches the way Go's ``FindAllStringIndex`` does (leftmost-first, non-overlapping; empty
matches are dropped, since an empty secret is no secret).

* :class:`Re2Engine` runs RE2 itself: linear time whatever the input, and a DFA that
  reads megabytes a second. ASCII text (nearly all of it) is handed over as bytes, so it
  is not re-encoded for every rule.
* :class:`PythonEngine` runs the translation to ``re``, helped by literal anchors
  (:mod:`~stockade.compliance.secrets.anchors`). Backtracking has no linear bound, so the
  scanner gives it a deadline per file (:class:`Deadline`).

``engine="auto"`` picks RE2 when ``import re2`` works.
"""

from __future__ import annotations

import abc
import importlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from stockade.compliance.secrets import anchors, syntax
from stockade.compliance.secrets.errors import SecretsError

ENGINE_NAMES: Final = ("auto", "re2", "python")


class DeadlineExceeded(Exception):
    """The time allowed for one file ran out (caught by the scanner)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in ``time.monotonic()`` after which a scan of one file stops."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise DeadlineExceeded


@dataclass(frozen=True, slots=True)
class Hit:
    """One match: character offsets into the text, and its capture groups."""

    start: int
    end: int
    groups: tuple[str | None, ...]


class ScanText:
    """Text under scan, with the views engines need computed once and shared."""

    __slots__ = ("_ascii_bytes", "_lowered", "_utf8", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lowered: str | None = None
        self._ascii_bytes: bytes | None = None
        self._utf8: bytes | None = None

    @property
    def lowered(self) -> str:
        """Lowercased, same length as :attr:`text` (offsets line up)."""
        if self._lowered is None:
            self._lowered = anchors.lower_text(self.text)
        return self._lowered

    @property
    def ascii_bytes(self) -> bytes | None:
        """The text as bytes when it is pure ASCII (byte offsets are character offsets)."""
        if self._ascii_bytes is None and self.text.isascii():
            self._ascii_bytes = self.text.encode("ascii")
        return self._ascii_bytes

    @property
    def utf8(self) -> bytes:
        """The text as UTF-8 (lone surrogates passed through, as RE2 reads any bytes)."""
        if self._utf8 is None:
            self._utf8 = self.text.encode("utf-8", "surrogatepass")
        return self._utf8


class Pattern(abc.ABC):
    """A compiled pattern."""

    groups: int

    @abc.abstractmethod
    def finditer(self, text: ScanText, deadline: Deadline | None = None) -> Iterator[Hit]:
        """Non-empty, non-overlapping matches, leftmost first."""

    @abc.abstractmethod
    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``."""


class KeywordIndex(abc.ABC):
    """Which of a fixed set of lowercase keywords occur in a lowercased text."""

    @abc.abstractmethod
    def present(self, lowered: str) -> frozenset[str]:
        """The keywords that occur in ``lowered`` (substrings, overlaps included)."""


class Engine(abc.ABC):
    name: str

    @abc.abstractmethod
    def compile(self, regex: syntax.Regex) -> Pattern:
        """Compile an already parsed pattern; :class:`syntax.RegexSyntaxError` if it can't."""

    @abc.abstractmethod
    def compile_any(self, regexes: Sequence[syntax.Regex]) -> Pattern:
        """One pattern matching wherever any of ``regexes`` matches (for allowlists)."""

    @abc.abstractmethod
    def keyword_index(self, keywords: Sequence[str]) -> KeywordIndex:
        """A multi-keyword finder over lowercased text."""


# --- Python ``re`` ----------------------------------------------------------------------


def _compile_python(source: str) -> re.Pattern[str]:
    try:
        return re.compile(source, re.ASCII)
    except (re.error, OverflowError, RecursionError) as exc:
        raise syntax.RegexSyntaxError(f"Python re refused the translation: {exc}") from exc


def _groups(match: re.Match[str]) -> tuple[str | None, ...]:
    return tuple(match.groups())


class PythonPattern(Pattern):
    def __init__(self, regex: syntax.Regex) -> None:
        self.groups = regex.groups
        self._re = _compile_python(syntax.to_python(regex))
        try:
            anchor = anchors.find_anchor(regex)
        except RecursionError:  # a pattern nested too deeply to analyse: scan it all
            anchor = None
        self._anchor = anchor
        self._prefix: re.Pattern[str] | None = None
        if anchor is not None and anchor.prefix_chars is not None:
            self._prefix = _compile_python(syntax.python_class(anchor.prefix_chars) + "*\\Z")

    def search(self, text: str) -> bool:
        return self._re.search(text) is not None

    def finditer(self, text: ScanText, deadline: Deadline | None = None) -> Iterator[Hit]:
        if self._anchor is None:
            yield from self._scan_all(text.text, deadline)
        else:
            yield from self._scan_anchored(text, self._anchor, deadline)

    def _scan_all(self, text: str, deadline: Deadline | None) -> Iterator[Hit]:
        # Go's iteration: after an empty match at p the next search starts at p + 1.
        pos = 0
        search = self._re.search
        while pos <= len(text):
            if deadline is not None:
                deadline.check()
            match = search(text, pos)
            if match is None:
                return
            start, end = match.span()
            if end == start:
                pos = end + 1
                continue
            yield Hit(start, end, _groups(match))
            pos = end

    def _scan_anchored(
        self, text: ScanText, anchor: anchors.Anchor, deadline: Deadline | None
    ) -> Iterator[Hit]:
        """Try the pattern only at starts that can reach an anchor occurrence.

        Occurrences are visited in order and each start position is tried at most once,
        in increasing order. A start that is never tried has no anchor occurrence between
        ``min_before`` and ``max_before`` characters after it (or, with ``prefix_chars``,
        a character in between that the prefix cannot consume), so no match begins there.
        The first start that matches is therefore the leftmost match, as a full scan
        would find it; after it, the search resumes at its end, as a full scan does.
        """
        lowered = text.lowered
        raw = text.text
        occurrences: set[int] = set()
        for literal in anchor.literals:
            at = lowered.find(literal)
            while at >= 0:
                occurrences.add(at)
                at = lowered.find(literal, at + 1)
        if not occurrences:
            return
        match_at = self._re.match
        prefix = self._prefix
        ordered = sorted(occurrences)
        resume = 0  # no match may start before this (end of the previous match)
        tried = -1  # every start up to here has been tried or ruled out
        index = 0
        while index < len(ordered):
            q = ordered[index]
            last = q - anchor.min_before
            first = max(resume, tried + 1, q - anchor.max_before)
            if last < first:
                index += 1
                continue
            if deadline is not None:
                deadline.check()
            if prefix is not None:
                # Starts before the run of prefix characters that ends at q can reach
                # neither q nor any later occurrence: a character in between stops them.
                run = prefix.search(raw, first, q)
                first = q + 1 if run is None else max(first, run.start())
            found: re.Match[str] | None = None
            for start in range(first, last + 1):
                match = match_at(raw, start)
                if match is not None and match.end() > start:
                    found = match
                    break
            if found is None:
                tried = max(tried, last)
                index += 1
                continue
            yield Hit(found.start(), found.end(), _groups(found))
            # Stay on this occurrence: its window may hold more starts after the match.
            resume = found.end()
            tried = found.start()


class _PythonKeywordIndex(KeywordIndex):
    """One trie-shaped regex over the lowered text, made exact for overlapping keywords.

    The scan finds keywords left to right without overlap, the longest at each place. A
    keyword that occurs only inside a longer one found there comes from ``_inside``; one
    that starts inside a found keyword and runs past its end is checked right there, at
    the offset where a suffix of the found keyword is a prefix of it (``_overlapping``).
    """

    def __init__(self, keywords: Sequence[str]) -> None:
        words = sorted(set(keywords))
        self._re = re.compile(_trie_pattern(words)) if words else None
        self._inside = {w: frozenset(o for o in words if o != w and o in w) for w in words}
        self._overlapping = {
            w: tuple(
                (other, len(w) - size)
                for other in words
                if other not in w
                for size in range(1, min(len(w), len(other)))
                if w.endswith(other[:size])
            )
            for w in words
        }

    def present(self, lowered: str) -> frozenset[str]:
        if self._re is None:
            return frozenset()
        found: set[str] = set()
        overlapping = self._overlapping
        for match in self._re.finditer(lowered):
            word = match.group()
            found.add(word)
            start = match.start()
            for other, offset in overlapping[word]:
                if other not in found and lowered.startswith(other, start + offset):
                    found.add(other)
        for word in list(found):
            found |= self._inside[word]
        return frozenset(found)


def _trie_pattern(words: Sequence[str]) -> str:
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


class PythonEngine(Engine):
    name = "python"

    def compile(self, regex: syntax.Regex) -> Pattern:
        return PythonPattern(regex)

    def compile_any(self, regexes: Sequence[syntax.Regex]) -> Pattern:
        if len(regexes) == 1:
            return PythonPattern(regexes[0])
        joined = "|".join(f"(?:{syntax.to_python(r)})" for r in regexes)
        return _JoinedPythonPattern(_compile_python(joined))

    def keyword_index(self, keywords: Sequence[str]) -> KeywordIndex:
        return _PythonKeywordIndex(keywords)


class _JoinedPythonPattern(Pattern):
    groups = 0

    def __init__(self, compiled: re.Pattern[str]) -> None:
        self._re = compiled

    def search(self, text: str) -> bool:
        return self._re.search(text) is not None

    def finditer(self, text: ScanText, deadline: Deadline | None = None) -> Iterator[Hit]:
        raise NotImplementedError("joined allowlist patterns are only searched")


# --- RE2 ----------------------------------------------------------------------------------


def _load_re2() -> Any:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


_RE2: Final[Any] = _load_re2()
_RE2_MAX_MEM: Final = 64 << 20


def re2_available() -> bool:
    return _RE2 is not None


def _re2_options() -> Any:
    options = _RE2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    return options


def _compile_re2(pattern: str | bytes) -> Any:
    try:
        return _RE2.compile(pattern, _re2_options())
    except _RE2.error as exc:
        raise syntax.RegexSyntaxError(f"RE2 refused the pattern: {exc}") from exc


class Re2Pattern(Pattern):
    """RE2 over UTF-8 bytes: the text is encoded once per fragment, not once per rule."""

    def __init__(self, pattern: str, groups: int) -> None:
        self.groups = groups
        self._pattern = pattern
        self._text = _compile_re2(pattern)
        self._bytes: Any = None

    def search(self, text: str) -> bool:
        return self._text.search(text) is not None

    def finditer(self, text: ScanText, deadline: Deadline | None = None) -> Iterator[Hit]:
        if self._bytes is None:
            self._bytes = _compile_re2(self._pattern.encode("utf-8"))
        ascii_data = text.ascii_bytes
        data = ascii_data if ascii_data is not None else text.utf8
        # Byte offsets are character offsets in ASCII; otherwise count the characters
        # between one match and the next, so the whole walk stays linear.
        char_at = byte_at = 0
        for byte_start, byte_end, groups in self._iterate(data, deadline):
            start, end = byte_start, byte_end
            if ascii_data is None:
                char_at += len(data[byte_at:byte_start].decode("utf-8", "surrogatepass"))
                byte_at = byte_start
                start = char_at
                end = start + len(data[byte_start:byte_end].decode("utf-8", "surrogatepass"))
            yield Hit(
                start,
                end,
                tuple(None if g is None else g.decode("utf-8", "surrogatepass") for g in groups),
            )

    def _iterate(
        self, data: bytes, deadline: Deadline | None
    ) -> Iterator[tuple[int, int, tuple[bytes | None, ...]]]:
        pos = 0
        while pos <= len(data):
            if deadline is not None:
                deadline.check()
            match = self._bytes.search(data, pos)
            if match is None:
                return
            start, end = match.span()
            if end == start:
                pos = end + 1
                continue
            yield start, end, match.groups()
            pos = end


class _Re2KeywordIndex(KeywordIndex):
    def __init__(self, keywords: Sequence[str]) -> None:
        self._words = tuple(sorted(set(keywords)))
        self._set: Any = None
        if self._words:
            keyword_set = _RE2.Set.SearchSet(_re2_options())
            for word in self._words:
                keyword_set.Add(_RE2.escape(word))
            keyword_set.Compile()
            self._set = keyword_set

    def present(self, lowered: str) -> frozenset[str]:
        if self._set is None:
            return frozenset()
        hits = self._set.Match(lowered) or ()
        return frozenset(self._words[i] for i in hits)


class Re2Engine(Engine):
    name = "re2"

    def __init__(self) -> None:
        if _RE2 is None:
            raise SecretsError(
                "the RE2 engine needs the google-re2 package",
                hint="pip install google-re2, or choose the python engine",
            )

    def compile(self, regex: syntax.Regex) -> Pattern:
        return Re2Pattern(regex.pattern, regex.groups)

    def compile_any(self, regexes: Sequence[syntax.Regex]) -> Pattern:
        if len(regexes) == 1:
            return Re2Pattern(regexes[0].pattern, regexes[0].groups)
        return Re2Pattern("|".join(f"(?:{r.pattern})" for r in regexes), 0)

    def keyword_index(self, keywords: Sequence[str]) -> KeywordIndex:
        return _Re2KeywordIndex(keywords)


def select_engine(name: str | Engine = "auto") -> Engine:
    """The engine called ``name``: ``auto`` (RE2 when installed), ``re2`` or ``python``."""
    if isinstance(name, Engine):
        return name
    if name == "auto":
        return Re2Engine() if _RE2 is not None else PythonEngine()
    if name == "re2":
        return Re2Engine()
    if name == "python":
        return PythonEngine()
    raise SecretsError(
        f"unknown regular-expression engine {name!r}",
        hint=f"choose one of: {', '.join(ENGINE_NAMES)}",
    )
