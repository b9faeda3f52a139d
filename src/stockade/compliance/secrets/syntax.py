"""Go/RE2 regular-expression syntax: a parser, its tree, and a translation to Python ``re``.

gitleaks rules are Go ``regexp`` patterns (RE2 syntax). Python's ``re`` reads most of them
the same way but not all: flags may change in the middle of a pattern (``p8e-(?i)[a-z]``),
``\\z`` is Python's ``\\Z``, ``$`` without ``(?m)`` matches only at the very end,
``[[:alnum:]]`` is a POSIX class, ``\\w``/``\\s``/``\\b`` are ASCII-only, ``{,5}`` is literal
text, ``(?U)`` swaps greediness, and ``\\pL`` names a Unicode category. Lookaround,
backreferences, atomic groups and possessive quantifiers are not RE2 at all.

So patterns are parsed here exactly as Go's ``regexp/syntax`` (with its Perl flags) reads
them, refusing what RE2 refuses, and the tree is written back as a Python pattern that
needs no flags: case-insensitive letters become classes (``[Kk\\u212a]``), ``.`` becomes
``[^\\n]`` or ``(?s:.)``, ``^``/``$`` become ``\\A``/``\\Z`` or their ``(?m:…)`` forms.
The translation is compiled with ``re.ASCII`` only so that ``\\b`` keeps RE2's ASCII
meaning. Capture groups keep their numbers, so a rule's ``secretGroup`` means the same in
both engines.

Everything here is pure: strings in, trees and strings out.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

MAX_CODEPOINT: Final = 0x10FFFF
MAX_REPEAT: Final = 1000
"""RE2 refuses counted repetition above 1000, alone or nested."""

Ranges = tuple[tuple[int, int], ...]
"""Sorted, non-overlapping, non-adjacent inclusive code point ranges."""


class RegexSyntaxError(ValueError):
    """The pattern is not valid RE2 syntax, or cannot be translated for Python ``re``."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at offset {position}" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.position = position


# --- the tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    char: int
    fold: bool
    """Case-insensitive: matches every case variant of ``char``."""


@dataclass(frozen=True, slots=True)
class UnicodeRef:
    """``\\pL``, ``\\p{Greek}``, ``\\PN``: resolved only when translating."""

    name: str
    negated: bool
    fold: bool


ClassItem = Ranges | UnicodeRef


@dataclass(frozen=True, slots=True)
class CharClass:
    items: tuple[ClassItem, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class AnyChar:
    dotall: bool


@dataclass(frozen=True, slots=True)
class Assertion:
    kind: str
    """``line-begin``/``line-end`` (``(?m)``), ``text-begin``/``text-end``,
    ``word``/``not-word``."""


@dataclass(frozen=True, slots=True)
class Empty:
    pass


@dataclass(frozen=True, slots=True)
class Concat:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alternate:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Group:
    node: Node
    index: int | None
    """Capture group number, or None for ``(?:…)``."""
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    node: Node
    min: int
    max: int | None
    greedy: bool


Node = Literal | CharClass | AnyChar | Assertion | Empty | Concat | Alternate | Group | Repeat


@dataclass(frozen=True, slots=True)
class Regex:
    """A parsed pattern: its tree and how many capture groups it has."""

    pattern: str
    node: Node
    groups: int


# --- character sets -------------------------------------------------------------------


def normalize(ranges: Iterable[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def negate(ranges: Ranges) -> Ranges:
    result: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            result.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODEPOINT:
        result.append((nxt, MAX_CODEPOINT))
    return tuple(result)


def _r(*pairs: tuple[str, str]) -> Ranges:
    return normalize((ord(a), ord(b)) for a, b in pairs)


PERL_CLASSES: Final[dict[str, Ranges]] = {
    "d": _r(("0", "9")),
    "s": _r(("\t", "\n"), ("\f", "\r"), (" ", " ")),
    "w": _r(("0", "9"), ("A", "Z"), ("_", "_"), ("a", "z")),
}
POSIX_CLASSES: Final[dict[str, Ranges]] = {
    "alnum": _r(("0", "9"), ("A", "Z"), ("a", "z")),
    "alpha": _r(("A", "Z"), ("a", "z")),
    "ascii": _r(("\x00", "\x7f")),
    "blank": _r(("\t", "\t"), (" ", " ")),
    "cntrl": _r(("\x00", "\x1f"), ("\x7f", "\x7f")),
    "digit": _r(("0", "9")),
    "graph": _r(("!", "~")),
    "lower": _r(("a", "z")),
    "print": _r((" ", "~")),
    "punct": _r(("!", "/"), (":", "@"), ("[", "`"), ("{", "~")),
    "space": _r(("\t", "\r"), (" ", " ")),
    "upper": _r(("A", "Z")),
    "word": _r(("0", "9"), ("A", "Z"), ("_", "_"), ("a", "z")),
    "xdigit": _r(("0", "9"), ("A", "F"), ("a", "f")),
}

# Characters whose Python case mapping reaches ASCII although RE2's simple case folding
# does not join them (the Turkic dotless i); everything else follows lower()/upper().
_NOT_FOLDED: Final = frozenset({0x130, 0x131})
_ASCII_EXTRA_FOLDS: Final = {ord("k"): 0x212A, ord("s"): 0x17F}


@functools.cache
def _fold_table() -> dict[int, tuple[int, ...]]:
    """Every code point with case variants, mapped to its whole orbit (sorted).

    Built once on first need (a pass over all code points, about half a second) and only
    for patterns that fold non-ASCII letters.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for cp in range(MAX_CODEPOINT + 1):
        if cp in _NOT_FOLDED or 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        for mapped in (ch.lower(), ch.upper()):
            if len(mapped) == 1 and ord(mapped) != cp and ord(mapped) not in _NOT_FOLDED:
                a, b = find(cp), find(ord(mapped))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    orbits: dict[int, list[int]] = {}
    for cp in parent:
        orbits.setdefault(find(cp), []).append(cp)
    table: dict[int, tuple[int, ...]] = {}
    for root, members in orbits.items():
        orbit = tuple(sorted({root, *members}))
        for cp in orbit:
            table[cp] = orbit
    return table


def fold_orbit(cp: int) -> tuple[int, ...]:
    """All case variants of ``cp`` under RE2's simple case folding (``cp`` included)."""
    if cp < 0x80:
        ch = chr(cp)
        if not ch.isalpha():
            return (cp,)
        lower = ord(ch.lower())
        variants = {lower, ord(ch.upper())}
        extra = _ASCII_EXTRA_FOLDS.get(lower)
        if extra is not None:
            variants.add(extra)
        return tuple(sorted(variants))
    return _fold_table().get(cp, (cp,))


_SMALL_RANGE: Final = 4096


def fold(ranges: Ranges) -> Ranges:
    """``ranges`` with every case variant of its members added."""
    extra: list[tuple[int, int]] = []
    table: dict[int, tuple[int, ...]] | None = None
    for lo, hi in ranges:
        if hi < 0x80:
            for cp in range(lo, hi + 1):
                extra.extend((v, v) for v in fold_orbit(cp))
            continue
        if table is None:
            table = _fold_table()
        if hi - lo < _SMALL_RANGE:
            members: Iterable[int] = range(lo, hi + 1)
        else:
            members = (cp for cp in table if lo <= cp <= hi)
        for cp in members:
            extra.extend((v, v) for v in table.get(cp, ()))
    return normalize((*ranges, *extra))


_CATEGORY_GROUPS: Final = frozenset({"L", "M", "N", "P", "S", "Z", "C"})


@functools.cache
def unicode_category(name: str) -> Ranges:
    """Code points of a Unicode general category (``L``, ``Lu``, ``Nd``…) or ``Any``.

    Scripts (``Greek``, ``Han``) are RE2 syntax too, but Python's ``unicodedata`` has no
    script property, so the pure-Python engine refuses them.
    """
    if name == "Any":
        return ((0, MAX_CODEPOINT),)
    if not (name in _CATEGORY_GROUPS or (len(name) == 2 and name[0] in _CATEGORY_GROUPS)):
        raise RegexSyntaxError(
            f"Unicode class \\p{{{name}}} needs the RE2 engine (Python's re has no "
            "Unicode scripts); install google-re2"
        )
    ranges: list[tuple[int, int]] = []
    start = -1
    for cp in range(MAX_CODEPOINT + 2):
        inside = cp <= MAX_CODEPOINT and unicodedata.category(chr(cp)).startswith(name)
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if not ranges:
        raise RegexSyntaxError(f"unknown Unicode class \\p{{{name}}}")
    return tuple(ranges)


# --- the parser -----------------------------------------------------------------------

_HEX: Final = frozenset("0123456789abcdefABCDEF")
_OCTAL: Final = frozenset("01234567")
_SIMPLE_ESCAPES: Final = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_UNSUPPORTED_GROUPS: Final = {
    "=": "lookahead (?=…)",
    "!": "negative lookahead (?!…)",
    ">": "atomic group (?>…)",
    "#": "comment group (?#…)",
}


@dataclass(slots=True)
class _Flags:
    fold: bool = False
    dotall: bool = False
    multiline: bool = False
    ungreedy: bool = False

    def copy(self) -> _Flags:
        return _Flags(self.fold, self.dotall, self.multiline, self.ungreedy)


class _Parser:
    """A recursive-descent reader of Go's RE2 syntax (``syntax.Perl`` flags)."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.pos = 0
        self.flags = _Flags()
        self.groups = 0
        self.names: set[str] = set()

    def error(self, message: str, position: int | None = None) -> RegexSyntaxError:
        return RegexSyntaxError(message, self.pos if position is None else position)

    def parse(self) -> Node:
        node = self.alternation()
        if self.pos < len(self.s):
            raise self.error("unexpected )")
        return node

    def alternation(self) -> Node:
        branches: list[Node] = [self.concatenation()]
        while self.pos < len(self.s) and self.s[self.pos] == "|":
            self.pos += 1
            branches.append(self.concatenation())
        return branches[0] if len(branches) == 1 else Alternate(tuple(branches))

    def concatenation(self) -> Node:
        items: list[Node] = []
        last_was_repeat = False
        s = self.s
        while self.pos < len(s):
            c = s[self.pos]
            if c in "|)":
                break
            if c in "*+?" or (c == "{" and self._repeat_counts() is not None):
                start = self.pos
                counts = self._quantifier()
                if not items:
                    raise self.error("missing argument to repetition operator", start)
                if last_was_repeat or isinstance(items[-1], Repeat):
                    raise self.error("invalid nested repetition operator", start)
                lo, hi, lazy = counts
                greedy = lazy == self.flags.ungreedy
                items[-1] = Repeat(items[-1], lo, hi, greedy)
                last_was_repeat = True
                continue
            last_was_repeat = False
            if c == "(":
                node = self.group()
                if node is not None:
                    items.append(node)
                continue
            if c == "[":
                items.append(self.char_class())
                continue
            self.pos += 1
            if c == ".":
                items.append(AnyChar(self.flags.dotall))
            elif c == "^":
                items.append(Assertion("line-begin" if self.flags.multiline else "text-begin"))
            elif c == "$":
                items.append(Assertion("line-end" if self.flags.multiline else "text-end"))
            elif c == "\\":
                items.extend(self.escape())
            else:
                items.append(Literal(ord(c), self.flags.fold))
        if not items:
            return Empty()
        return items[0] if len(items) == 1 else Concat(tuple(items))

    # -- repetition

    def _repeat_counts(self) -> tuple[int, int | None, int] | None:
        """Parse ``{n}``, ``{n,}``, ``{n,m}`` at pos: (min, max, length) or None."""
        s, i = self.s, self.pos + 1
        lo, i = self._number(i)
        if lo is None:
            return None
        hi: int | None = lo
        if i < len(s) and s[i] == ",":
            i += 1
            if i < len(s) and s[i] == "}":
                hi = None
            else:
                hi, i = self._number(i)
                if hi is None:
                    return None
        if i >= len(s) or s[i] != "}":
            return None
        return lo, hi, i + 1 - self.pos

    def _number(self, i: int) -> tuple[int | None, int]:
        s = self.s
        j = i
        while j < len(s) and s[j].isascii() and s[j].isdigit():
            j += 1
        digits = s[i:j]
        # Go reads neither an empty count nor one with a leading zero (then "{" is text).
        if not digits or (len(digits) > 1 and digits[0] == "0"):
            return None, i
        return int(digits[:9]), j  # nine digits already exceed every limit

    def _quantifier(self) -> tuple[int, int | None, bool]:
        c = self.s[self.pos]
        if c == "{":
            counts = self._repeat_counts()
            assert counts is not None  # noqa: S101 - checked by the caller
            lo, hi, length = counts
            if lo > MAX_REPEAT or (hi is not None and hi > MAX_REPEAT):
                raise self.error(f"invalid repeat count (RE2 allows at most {MAX_REPEAT})")
            if hi is not None and hi < lo:
                raise self.error("invalid repeat count (max below min)")
            self.pos += length
        else:
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            self.pos += 1
        lazy = self.pos < len(self.s) and self.s[self.pos] == "?"
        if lazy:
            self.pos += 1
        return lo, hi, lazy

    # -- groups

    def group(self) -> Node | None:
        s, start = self.s, self.pos
        self.pos += 1
        name: str | None = None
        capture = True
        saved = self.flags.copy()
        if s.startswith("?", self.pos):
            if s.startswith(("?P<", "?<"), self.pos) and not s.startswith(("?<=", "?<!"), self.pos):
                self.pos += 3 if s[self.pos + 1] == "P" else 2
                end = s.find(">", self.pos)
                if end < 0:
                    raise self.error("invalid named capture", start)
                name = s[self.pos : end]
                if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
                    raise self.error(f"invalid named capture name {name!r}", start)
                if name in self.names:
                    raise self.error(f"duplicate capture group name {name!r}", start)
                self.names.add(name)
                self.pos = end + 1
            else:
                self.pos += 1
                if self.pos < len(s) and s[self.pos] in _UNSUPPORTED_GROUPS:
                    raise self.error(f"{_UNSUPPORTED_GROUPS[s[self.pos]]} is not RE2 syntax", start)
                if s.startswith(("<=", "<!"), self.pos):
                    raise self.error("lookbehind is not RE2 syntax", start)
                if s.startswith(("P=", "P>"), self.pos):
                    raise self.error("backreferences are not RE2 syntax", start)
                scoped = self._flags(start)
                if not scoped:
                    return None  # (?i): applies to the rest of the enclosing group
                capture = False
        index: int | None = None
        if capture:
            self.groups += 1
            index = self.groups
        inner = self.alternation()
        if self.pos >= len(s) or s[self.pos] != ")":
            raise self.error("missing closing )", start)
        self.pos += 1
        self.flags = saved
        return Group(inner, index, name)

    def _flags(self, start: int) -> bool:
        """Read ``imsU-`` flags up to ``:`` (True: a scoped group follows) or ``)``."""
        s = self.s
        flags = self.flags.copy()
        negated = False
        saw_flag = False
        any_flag = False
        while self.pos < len(s):
            c = s[self.pos]
            self.pos += 1
            if c in "imsU":
                value = not negated
                if c == "i":
                    flags.fold = value
                elif c == "m":
                    flags.multiline = value
                elif c == "s":
                    flags.dotall = value
                else:
                    flags.ungreedy = value
                saw_flag = any_flag = True
            elif c == "-":
                if negated:
                    raise self.error("invalid or unsupported Perl syntax (double -)", start)
                negated = True
                saw_flag = False
            elif c in ":)":
                if negated and not saw_flag:
                    raise self.error("missing flag after - in (?…)", start)
                if c == ")" and not any_flag:
                    raise self.error("missing flags in (?)", start)
                if c == ")":
                    self.flags = flags
                    return False
                # A scoped group: flags hold inside it and are restored at its ")".
                self.flags = flags
                return True
            else:
                raise self.error(f"invalid or unsupported Perl syntax (?{c}…", start)
        raise self.error("missing closing )", start)

    # -- escapes

    def escape(self) -> list[Node]:
        """Read after a backslash outside a class."""
        s, start = self.s, self.pos - 1
        if self.pos >= len(s):
            raise self.error("trailing backslash at end of expression", start)
        c = s[self.pos]
        simple = {"A": "text-begin", "z": "text-end", "b": "word", "B": "not-word"}
        if c in simple:
            self.pos += 1
            return [Assertion(simple[c])]
        if c == "Q":
            end = s.find("\\E", self.pos + 1)
            text = s[self.pos + 1 :] if end < 0 else s[self.pos + 1 : end]
            self.pos = len(s) if end < 0 else end + 2
            return [Literal(ord(ch), self.flags.fold) for ch in text]
        if c in "pP":
            return [CharClass((self._unicode_ref(start),), negated=False)]
        if c.lower() in PERL_CLASSES:
            self.pos += 1
            return [CharClass((self._perl_class(c),), negated=False)]
        if c == "C":
            raise self.error("\\C (any byte) is not supported", start)
        return [Literal(self._escaped_char(start), self.flags.fold)]

    def _perl_class(self, c: str) -> Ranges:
        ranges = PERL_CLASSES[c.lower()]
        if self.flags.fold:
            ranges = fold(ranges)
        return negate(ranges) if c.isupper() else ranges

    def _unicode_ref(self, start: int) -> UnicodeRef:
        s = self.s
        negated = s[self.pos] == "P"
        self.pos += 1
        if self.pos >= len(s):
            raise self.error("invalid character class range", start)
        if s[self.pos] == "{":
            end = s.find("}", self.pos)
            if end < 0:
                raise self.error("invalid character class range", start)
            name = s[self.pos + 1 : end]
            self.pos = end + 1
        else:
            name = s[self.pos]
            self.pos += 1
        if name.startswith("^"):
            negated = not negated
            name = name[1:]
        if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
            raise self.error(f"invalid character class range \\p{{{name}}}", start)
        return UnicodeRef(name, negated, self.flags.fold)

    def _escaped_char(self, start: int) -> int:
        """One escaped character (the backslash already read): Go's ``parseEscape``."""
        s = self.s
        if self.pos >= len(s):
            raise self.error("trailing backslash at end of expression", start)
        c = s[self.pos]
        self.pos += 1
        if c.isascii() and not c.isalnum():
            return ord(c)
        if c in "1234567" and (self.pos >= len(s) or s[self.pos] not in _OCTAL):
            raise self.error(f"backreference \\{c} is not RE2 syntax", start)
        if c in "01234567":
            value = int(c)
            for _ in range(2):
                if self.pos < len(s) and s[self.pos] in _OCTAL:
                    value = value * 8 + int(s[self.pos])
                    self.pos += 1
                else:
                    break
            return value
        if c == "x":
            if s.startswith("{", self.pos):
                end = s.find("}", self.pos)
                digits = s[self.pos + 1 : end] if end > 0 else ""
                if not digits or not set(digits) <= _HEX or int(digits, 16) > MAX_CODEPOINT:
                    raise self.error("invalid escape sequence \\x{…}", start)
                self.pos = end + 1
                return int(digits, 16)
            digits = s[self.pos : self.pos + 2]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise self.error("invalid escape sequence \\x", start)
            self.pos += 2
            return int(digits, 16)
        if c in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[c]
        raise self.error(f"invalid escape sequence \\{c}", start)

    # -- classes

    def char_class(self) -> CharClass:
        s, start = self.s, self.pos
        self.pos += 1
        negated = s.startswith("^", self.pos)
        if negated:
            self.pos += 1
        items: list[ClassItem] = []
        plain: list[tuple[int, int]] = []
        first = True
        while True:
            if self.pos >= len(s):
                raise self.error("missing closing ]", start)
            c = s[self.pos]
            if c == "]" and not first:
                self.pos += 1
                break
            first = False
            if c == "[" and s.startswith(":", self.pos + 1):
                end = s.find(":]", self.pos + 2)
                if end >= 0:
                    name = s[self.pos + 2 : end]
                    self.pos = end + 2
                    plain.extend(self._posix_class(name, start))
                    continue
            if c == "\\" and self.pos + 1 < len(s):
                nxt = s[self.pos + 1]
                if nxt in "pP":
                    self.pos += 1
                    items.append(self._unicode_ref(start))
                    continue
                if nxt.lower() in PERL_CLASSES:
                    self.pos += 2
                    plain.extend(self._perl_class(nxt))
                    continue
            lo = self._class_char(start)
            hi = lo
            if s.startswith("-", self.pos) and self.pos + 1 < len(s) and s[self.pos + 1] != "]":
                self.pos += 1
                hi = self._class_char(start)
                if hi < lo:
                    raise self.error("invalid character class range", start)
            ranges: Ranges = ((lo, hi),)
            plain.extend(fold(ranges) if self.flags.fold else ranges)
        if plain:
            items.insert(0, normalize(plain))
        return CharClass(tuple(items), negated)

    def _posix_class(self, name: str, start: int) -> Ranges:
        negated = name.startswith("^")
        ranges = POSIX_CLASSES.get(name[1:] if negated else name)
        if ranges is None:
            raise self.error(f"invalid character class range [:{name}:]", start)
        if self.flags.fold:
            ranges = fold(ranges)
        return negate(ranges) if negated else ranges

    def _class_char(self, start: int) -> int:
        s = self.s
        c = s[self.pos]
        self.pos += 1
        if c == "\\":
            return self._escaped_char(start)
        return ord(c)


def parse(pattern: str) -> Regex:
    """Parse ``pattern`` as Go's ``regexp`` would; :class:`RegexSyntaxError` if it can't."""
    parser = _Parser(pattern)
    try:
        node = parser.parse()
    except RecursionError as exc:
        raise RegexSyntaxError("expression nests too deeply") from exc
    _check_repeat_size(node)
    return Regex(pattern, node, parser.groups)


def _check_repeat_size(node: Node) -> None:
    """RE2 refuses nested counted repetition whose product exceeds 1000."""

    def walk(n: Node, product: int) -> None:
        if isinstance(n, Repeat):
            count = n.max if n.max is not None else n.min
            if count > 1:
                product *= count
                if product > MAX_REPEAT:
                    raise RegexSyntaxError("expression too large (nested repetition over 1000)")
            walk(n.node, product)
        elif isinstance(n, Group):
            walk(n.node, product)
        elif isinstance(n, Concat | Alternate):
            for item in n.items:
                walk(item, product)

    walk(node, 1)


# --- translation to Python ------------------------------------------------------------


def class_ranges(node: CharClass) -> Ranges:
    """The code points a class matches (Unicode references resolved)."""
    parts: list[tuple[int, int]] = []
    for item in node.items:
        if isinstance(item, UnicodeRef):
            ranges = unicode_category(item.name)
            if item.fold:
                ranges = fold(ranges)
            parts.extend(negate(ranges) if item.negated else ranges)
        else:
            parts.extend(item)
    merged = normalize(parts)
    return negate(merged) if node.negated else merged


def _py_char(cp: int) -> str:
    if cp < 0x80 and chr(cp).isalnum():
        return chr(cp)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def python_class(ranges: Ranges) -> str:
    if not ranges:
        return "(?!)"  # matches nothing, as an empty RE2 class
    if ranges == ((0, MAX_CODEPOINT),):
        return "(?s:.)"
    body = "".join(
        _py_char(lo) if lo == hi else f"{_py_char(lo)}-{_py_char(hi)}" for lo, hi in ranges
    )
    return f"[{body}]"


_ASSERTIONS: Final = {
    "line-begin": "(?m:^)",
    "line-end": "(?m:$)",
    "text-begin": "\\A",
    "text-end": "\\Z",
    "word": "\\b",
    # Python's \B never matches in an empty text; RE2's does, so spell it out.
    "not-word": "(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))",
}


def to_python(regex: Regex) -> str:
    """The Python ``re`` pattern (to compile with ``re.ASCII``) that matches like RE2."""
    try:
        return _emit(regex.node)
    except RecursionError as exc:
        raise RegexSyntaxError("expression nests too deeply") from exc


def _atomic(node: Node) -> bool:
    return isinstance(node, Literal | CharClass | AnyChar | Group)


def _emit(node: Node) -> str:
    if isinstance(node, Literal):
        if node.fold:
            orbit = fold_orbit(node.char)
            if len(orbit) > 1:
                return python_class(normalize((cp, cp) for cp in orbit))
        return _py_char(node.char)
    if isinstance(node, CharClass):
        return python_class(class_ranges(node))
    if isinstance(node, AnyChar):
        return "(?s:.)" if node.dotall else "[^\\n]"
    if isinstance(node, Assertion):
        return _ASSERTIONS[node.kind]
    if isinstance(node, Empty):
        return ""
    if isinstance(node, Concat):
        return "".join(
            f"(?:{_emit(item)})" if isinstance(item, Alternate) else _emit(item)
            for item in node.items
        )
    if isinstance(node, Alternate):
        return "|".join(_emit(item) for item in node.items)
    if isinstance(node, Group):
        inner = _emit(node.node)
        return f"({inner})" if node.index is not None else f"(?:{inner})"
    inner = _emit(node.node)
    if not _atomic(node.node):
        inner = f"(?:{inner})"
    if node.max is None:
        quantifier = {0: "*", 1: "+"}.get(node.min, f"{{{node.min},}}")
    elif node.min == node.max:
        quantifier = "" if node.min == 1 else f"{{{node.min}}}"
    elif (node.min, node.max) == (0, 1):
        quantifier = "?"
    else:
        quantifier = f"{{{node.min},{node.max}}}"
    if not quantifier:
        return inner
    return inner + quantifier + ("" if node.greedy else "?")


def translate(pattern: str) -> tuple[str, int]:
    """RE2 ``pattern`` as a Python ``re`` pattern, and its capture group count."""
    regex = parse(pattern)
    return to_python(regex), regex.groups
