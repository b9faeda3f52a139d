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
_RE2_MAX_MEM: Final = 64 << 20


class Regex:
    """One compiled pattern with ``search`` and ``captures`` over Latin-1 values."""

    __slots__ = ("_compiled", "_re2", "engine", "pattern")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self.pattern = pattern
        self._re2: Any = None
        self._compiled: re.Pattern[str] | None = None
        self.engine = "re"
        if _RE2 is not None:
            options = _RE2.Options()
            options.max_mem = _RE2_MAX_MEM
            options.log_errors = False
            options.encoding = _RE2.Options.Encoding.LATIN1
            # PCRE's '.' in ModSecurity does not match a newline either; keep RE2's default.
            options.case_sensitive = not ignore_case
            try:
                self._re2 = _RE2.compile(pattern.encode("latin-1", "replace"), options)
                self.engine = "re2"
            except Exception:
                self._re2 = None
        if self._re2 is None:
            flags = re.IGNORECASE if ignore_case else 0
            self._compiled = re.compile(_pcre_to_python(pattern), flags)

    def search(self, value: str) -> bool:
        if self._re2 is not None:
            return self._re2.search(value.encode("latin-1")) is not None
        compiled = self._compiled
        return compiled is not None and compiled.search(value) is not None

    def captures(self, value: str) -> list[str] | None:
        """The whole match and up to nine groups, or None when there is no match."""
        if self._re2 is not None:
            match = self._re2.search(value.encode("latin-1"))
            if match is None:
                return None
            groups = [match.group(0), *match.groups()][:10]
            return [(g or b"").decode("latin-1") for g in groups]
        compiled = self._compiled
        found = compiled.search(value) if compiled is not None else None
        if found is None:
            return None
        return [g or "" for g in [found.group(0), *found.groups()][:10]]


def _pcre_to_python(pattern: str) -> str:
    """The few PCRE spellings Python's ``re`` writes differently."""
    pattern = re.sub(r"\\x\{([0-9a-fA-F]{1,2})\}", lambda m: "\\x" + m.group(1).zfill(2), pattern)
    pattern = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)
    return pattern.replace("\\z", "\\Z")


def compile_regex(pattern: str, *, ignore_case: bool = False) -> Regex:
    """Compile ``pattern``; raises ``re.error`` when no engine accepts it."""
    return Regex(pattern, ignore_case=ignore_case)
