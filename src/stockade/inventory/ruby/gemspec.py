"""Installed gem specifications (``…/specifications/NAME-VERSION.gemspec``).

RubyGems writes these files itself when it installs a gem (``Gem::Specification#to_ruby``),
so their shape is regular Ruby: ``s.name = "rake".freeze``, ``s.version = "13.0.6"``,
``s.licenses = ["MIT".freeze]``, inside ``Gem::Specification.new do |s| … end``. They are
read as text, never evaluated. A version may also be written ``Gem::Version.new("1.0")``
and a license list ``%w[MIT Ruby]``; hand-written specs in that directory sometimes use
``s.license = "MIT"``.
"""

from __future__ import annotations

import re

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

_BLOCK = re.compile(r"Gem::Specification\.new\b[^|\n]*\|\s*([A-Za-z_]\w*)\s*\|")
_STRING = re.compile(r""""((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'""")
_WORD_LIST = re.compile(r"%[wW]\s*([\[({<])")
_CLOSERS = {"[": "]", "(": ")", "{": "}", "<": ">"}
_ATTRIBUTES = ("name", "version", "license", "licenses")


def parse_gemspec(text: str, *, cataloger: str) -> Package:
    """The gem an installed ``.gemspec`` describes."""
    block = _BLOCK.search(text)
    if block is None:
        raise CatalogError(
            "no 'Gem::Specification.new do |spec|' block",
            hint="only specifications written by RubyGems at install time are read",
        )
    var = re.escape(block.group(1))
    assignment = re.compile(rf"{var}\.({'|'.join(_ATTRIBUTES)})\s*=(?!=)\s*(.*)")
    values: dict[str, str] = {}
    for raw in text[block.end() :].splitlines():
        match = assignment.match(raw.strip())
        if match:
            values.setdefault(match.group(1), match.group(2))
    name = _first_string(values.get("name", ""))
    version = _first_string(values.get("version", ""))
    if not name or not version:
        missing = "name" if not name else "version"
        raise CatalogError(
            f"no literal {missing} in the specification",
            hint="a gemspec that computes its name or version is a source file, "
            "not an installed specification",
        )
    if "licenses" in values:
        licenses = _strings(values["licenses"])
    elif "license" in values:
        licenses = _strings(values["license"])[:1]
    else:
        licenses = ()
    return Package(
        name=name,
        version=version,
        type=PackageType.GEM,
        licenses=licenses,
        cataloger=cataloger,
    )


def _first_string(expression: str) -> str:
    # Covers "x", 'x', "x".freeze and Gem::Version.new("x"): the first literal is the value.
    match = _STRING.search(expression)
    if match is None:
        return ""
    return _unescape(match.group(1) if match.group(1) is not None else match.group(2)).strip()


def _strings(expression: str) -> tuple[str, ...]:
    words = _WORD_LIST.match(expression)
    if words:
        closer = _CLOSERS[words.group(1)]
        body = expression[words.end() :].split(closer, 1)[0]
        found = body.split()
    else:
        found = [
            _unescape(m.group(1) if m.group(1) is not None else m.group(2))
            for m in _STRING.finditer(expression)
        ]
    return tuple(dict.fromkeys(item.strip() for item in found if item.strip()))


def _unescape(literal: str) -> str:
    # Gem names and versions are plain ASCII; only quote and backslash escapes matter.
    return re.sub(r"\\(.)", r"\1", literal)
