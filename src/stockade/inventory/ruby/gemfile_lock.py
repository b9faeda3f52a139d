"""Bundler lock files (``Gemfile.lock``, ``gems.locked``).

The file is made of sections whose headers start in column 0 (``GEM``, ``GIT``,
``PATH``, ``PLUGIN SOURCE``, ``PLATFORMS``, ``DEPENDENCIES``, ``CHECKSUMS``, …). Inside a
source section (every one but the last four kinds), ``  specs:`` opens the list of
locked gems: each gem is one line indented by exactly four spaces, ``name (version)``,
and the gems it depends on follow indented by six. A version may end in a platform,
``nokogiri (1.13.6-x86_64-linux)``; the platform is not part of the gem's version and is
dropped (``1.13.6``), so a gem locked for several platforms is listed once.
"""

from __future__ import annotations

import re

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType

_SOURCE_SECTIONS = frozenset({"GEM", "GIT", "PATH", "PLUGIN SOURCE"})
_SPEC = re.compile(r"(?P<name>[^\s()]+) \((?P<version>[^\s()]+)\)")
_SPEC_INDENT = "    "


def parse_gemfile_lock(text: str, *, cataloger: str) -> list[Package]:
    """Gems locked in a Bundler lock file."""
    packages: dict[tuple[str, str], Package] = {}
    section = ""
    in_specs = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines separate sections; whitespace-only ones appear inside
        if not line[0].isspace():
            section = line.strip()
            in_specs = False
            continue
        if section not in _SOURCE_SECTIONS:
            continue
        if line.startswith("  ") and not line.startswith("   "):
            in_specs = line.strip() == "specs:"
            continue
        if not in_specs or not line.startswith(_SPEC_INDENT) or line[4].isspace():
            continue  # a dependency of the gem above (six spaces), or source options
        match = _SPEC.fullmatch(line[4:].rstrip())
        if match is None:
            raise CatalogError(
                f"line {number}: expected a locked gem 'name (version)', got {line.strip()[:80]!r}",
                hint="is this a Bundler lock file?",
            )
        name = match.group("name")
        version = match.group("version").split("-", 1)[0]
        packages.setdefault(
            (name, version),
            Package(name=name, version=version, type=PackageType.GEM, cataloger=cataloger),
        )
    return list(packages.values())
