"""Native version constraints: npm ranges, RubyGems requirements and plain comparator lists.

Every syntax parses into the same shape, an :class:`AnyOf` of :class:`AllOf` of
:class:`Comparator`, and :func:`satisfies` evaluates it under a version scheme. Parsing
does not look at the versions, so a constraint is parsed once and checked against many.

Pre-releases are in a range when they sort inside it. npm hides pre-releases from ranges
when *choosing* what to install; the question here is whether an installed version is
vulnerable, and ``1.2.3-beta`` is as vulnerable to ``<=1.2.3`` as ``1.2.2`` is.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from stockade.match.versions import rubygems
from stockade.match.versions.interface import InvalidConstraint, VersionKey, VersionScheme


class Operator(enum.Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="
    NE = "!="
    COMPATIBLE = "~>"
    """RubyGems' pessimistic operator: ``>= v`` and, ignoring pre-release parts, ``< bump(v)``."""


@dataclass(frozen=True, slots=True)
class Comparator:
    operator: Operator
    version: str

    def __str__(self) -> str:
        return f"{self.operator.value}{self.version}"


@dataclass(frozen=True, slots=True)
class AllOf:
    """Comparators that must all hold; never empty (an empty one would match silently)."""

    comparators: tuple[Comparator, ...]

    def __post_init__(self) -> None:
        if not self.comparators:
            raise InvalidConstraint("", "a conjunction needs at least one comparator")

    def __str__(self) -> str:
        return " ".join(str(c) for c in self.comparators)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Alternatives of which one must hold; never empty."""

    alternatives: tuple[AllOf, ...]

    def __post_init__(self) -> None:
        if not self.alternatives:
            raise InvalidConstraint("", "a disjunction needs at least one alternative")

    def __str__(self) -> str:
        return " || ".join(str(a) for a in self.alternatives)


Constraint = AnyOf


def satisfies(version: str, constraint: Constraint, scheme: VersionScheme) -> bool:
    """Whether ``version`` meets ``constraint`` under ``scheme``; raises InvalidVersion."""
    key = scheme.key(version)
    return any(
        all(_holds(key, version, comparator, scheme) for comparator in alternative.comparators)
        for alternative in constraint.alternatives
    )


def _holds(key: VersionKey, version: str, comparator: Comparator, scheme: VersionScheme) -> bool:
    bound = scheme.key(comparator.version)
    match comparator.operator:
        case Operator.LT:
            return key < bound
        case Operator.LE:
            return key <= bound
        case Operator.GT:
            return key > bound
        case Operator.GE:
            return key >= bound
        case Operator.EQ:
            return key == bound
        case Operator.NE:
            return key != bound
        case Operator.COMPATIBLE:
            upper = scheme.key(rubygems.bump(comparator.version))
            return key >= bound and scheme.key(rubygems.release(version)) < upper
    raise AssertionError(comparator.operator)  # pragma: no cover - the match is exhaustive


# ---------------------------------------------------------------------------------------
# Plain comparator lists: ">= 1.0, < 1.2.3", ">=1.0 <2.0 || =3.1", "1.2.3"

_OPERATORS = {op.value: op for op in Operator} | {"==": Operator.EQ}
_PLAIN_COMPARATOR = re.compile(r"(~>|==|!=|<=|>=|<|>|=)?\s*([^\s,|<>=!~]+)")
_SEPARATORS = re.compile(r"[\s,]*")


def parse_constraint(text: str) -> Constraint:
    """``<``/``<=``/``>``/``>=``/``=``/``!=`` comparators joined by commas or spaces
    (all must hold), alternatives joined by ``||``. A bare version means ``=``."""
    return AnyOf(tuple(_parse_plain_conjunction(text, part) for part in text.split("||")))


def _parse_plain_conjunction(whole: str, text: str) -> AllOf:
    comparators: list[Comparator] = []
    position = _SEPARATORS.match(text, 0).end()  # type: ignore[union-attr]
    while position < len(text):
        match = _PLAIN_COMPARATOR.match(text, position)
        if not match:
            raise InvalidConstraint(whole, f"cannot read a comparator at {text[position:]!r}")
        comparators.append(Comparator(_OPERATORS[match.group(1) or "="], match.group(2)))
        position = _SEPARATORS.match(text, match.end()).end()  # type: ignore[union-attr]
    if not comparators:
        raise InvalidConstraint(whole, "an alternative is empty")
    return AllOf(tuple(comparators))


# ---------------------------------------------------------------------------------------
# RubyGems requirements: ["~> 5.2.4, >= 5.2.4.3", ">= 6.0.3.1"]

_GEM_REQUIREMENT = re.compile(r"\s*(~>|!=|<=|>=|<|>|=)?\s*([0-9][0-9A-Za-z.-]*)\s*")


def parse_gem_requirements(requirements: str | Iterable[str]) -> Constraint:
    """RubyGems requirements as advisories list them: each string is a requirement whose
    comma-separated parts must all hold; a list means any one of its strings."""
    texts = [requirements] if isinstance(requirements, str) else list(requirements)
    if not texts:
        raise InvalidConstraint("", "no requirement given")
    alternatives = []
    for text in texts:
        comparators = []
        for part in text.split(","):
            match = _GEM_REQUIREMENT.fullmatch(part)
            if not match:
                raise InvalidConstraint(text, f"cannot read the requirement {part.strip()!r}")
            comparators.append(Comparator(_OPERATORS[match.group(1) or "="], match.group(2)))
        alternatives.append(AllOf(tuple(comparators)))
    return AnyOf(tuple(alternatives))


# ---------------------------------------------------------------------------------------
# npm ranges: "<=4.17.15", ">=1.0.0 <1.2.3 || >=2.0.0 <2.0.1", "^1.1.7", "~0.2.2", "2.0.x"

_NPM_PARTIAL = re.compile(
    r"(?P<op><=|>=|<|>|=|~>|~|\^)?\s*=?\s*[vV]?"
    r"(?P<major>[0-9]+|[xX*])(?:\.(?P<minor>[0-9]+|[xX*]))?(?:\.(?P<patch>[0-9]+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_NPM_HYPHEN = re.compile(r"\s*(\S+)\s+-\s+(\S+)\s*")
_NPM_OPERATOR_SPACE = re.compile(r"(<=|>=|<|>|=|~>|~|\^)\s+")
_ANY = AllOf((Comparator(Operator.GE, "0.0.0-0"),))
_NOTHING = AllOf((Comparator(Operator.LT, "0.0.0-0"),))


@dataclass(frozen=True, slots=True)
class _Partial:
    """A version with wildcards: ``1.2.x`` has major 1, minor 2, patch None."""

    major: int | None
    minor: int | None
    patch: int | None
    prerelease: str | None

    def floor(self) -> str:
        version = f"{self.major or 0}.{self.minor or 0}.{self.patch or 0}"
        return f"{version}-{self.prerelease}" if self.prerelease else version

    def next_up(self) -> str:
        """The first version above every version the wildcard covers (a ``-0`` floor)."""
        if self.minor is None:
            return f"{(self.major or 0) + 1}.0.0-0"
        return f"{self.major}.{self.minor + 1}.0-0"

    @property
    def complete(self) -> bool:
        return self.patch is not None


def parse_npm_range(text: str) -> Constraint:
    """An npm (node-semver) range: comparators, ``x``-ranges, ``~``, ``^``, hyphen ranges
    and ``||``, evaluated by version order (see the module notes on pre-releases)."""
    return AnyOf(tuple(_parse_npm_set(text, part) for part in text.split("||")))


def _parse_npm_set(whole: str, text: str) -> AllOf:
    hyphen = _NPM_HYPHEN.fullmatch(text)
    if hyphen:
        low = _npm_partial(whole, hyphen.group(1))
        high = _npm_partial(whole, hyphen.group(2))
        upper = (
            Comparator(Operator.LE, high.floor())
            if high.complete
            else Comparator(Operator.LT, high.next_up())
        )
        if high.major is None:
            return AllOf((Comparator(Operator.GE, low.floor()),))
        return AllOf((Comparator(Operator.GE, low.floor()), upper))
    words = _NPM_OPERATOR_SPACE.sub(r"\1", text).split()
    if not words:
        return _ANY
    comparators: list[Comparator] = []
    for word in words:
        match = _NPM_PARTIAL.fullmatch(word)
        if not match:
            raise InvalidConstraint(whole, f"cannot read the comparator {word!r}")
        comparators.extend(_desugar(match.group("op") or "", _partial_from(match)))
    return AllOf(tuple(comparators)) if comparators else _ANY


def _npm_partial(whole: str, word: str) -> _Partial:
    match = _NPM_PARTIAL.fullmatch(word)
    if not match or match.group("op"):
        raise InvalidConstraint(whole, f"cannot read the version {word!r}")
    return _partial_from(match)


def _partial_from(match: re.Match[str]) -> _Partial:
    def number(group: str) -> int | None:
        value = match.group(group)
        return None if value is None or value in "xX*" else int(value)

    major, minor, patch = number("major"), number("minor"), number("patch")
    if major is None:
        minor = patch = None
    elif minor is None:
        patch = None
    prerelease = match.group("pre") if patch is not None else None
    return _Partial(major, minor, patch, prerelease)


def _desugar(op: str, partial: _Partial) -> list[Comparator]:
    if partial.major is None:  # "*", "x", ">=*": any version; "<*", ">*": none
        return list((_NOTHING if op in ("<", ">") else _ANY).comparators)
    floor, complete = partial.floor(), partial.complete
    if op in ("", "="):
        if complete:
            return [Comparator(Operator.EQ, floor)]
        return [Comparator(Operator.GE, floor), Comparator(Operator.LT, partial.next_up())]
    if op == ">":
        if complete:
            return [Comparator(Operator.GT, floor)]
        return [Comparator(Operator.GE, partial.next_up().removesuffix("-0"))]
    if op == ">=":
        return [Comparator(Operator.GE, floor)]
    if op == "<":
        return [Comparator(Operator.LT, floor if complete else f"{floor}-0")]
    if op == "<=":
        if complete:
            return [Comparator(Operator.LE, floor)]
        return [Comparator(Operator.LT, partial.next_up())]
    if op in ("~", "~>"):
        upper = (
            f"{partial.major + 1}.0.0-0"
            if partial.minor is None
            else f"{partial.major}.{partial.minor + 1}.0-0"
        )
        return [Comparator(Operator.GE, floor), Comparator(Operator.LT, upper)]
    # "^": the leftmost non-zero number may not change
    major, minor, patch = partial.major, partial.minor, partial.patch
    if major > 0 or minor is None:
        upper = f"{major + 1}.0.0-0"
    elif minor > 0 or patch is None:
        upper = f"0.{minor + 1}.0-0"
    else:
        upper = f"0.0.{patch + 1}-0"
    return [Comparator(Operator.GE, floor), Comparator(Operator.LT, upper)]
