"""Which version scheme an OSV ecosystem uses.

Ecosystem names are OSV's (https://ossf.github.io/osv-schema/#affectedpackage-field).
Anything after the first ``:`` scopes a release or a repository ("Debian:12",
"Alpine:v3.18", "Maven:https://maven.google.com") and does not change the ordering.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from stockade.match.versions.apk import ApkScheme
from stockade.match.versions.composer import ComposerScheme
from stockade.match.versions.dpkg import DpkgScheme
from stockade.match.versions.interface import UnsupportedEcosystem, VersionScheme
from stockade.match.versions.maven import MavenScheme
from stockade.match.versions.nuget import NuGetScheme
from stockade.match.versions.pep440 import Pep440Scheme
from stockade.match.versions.rpm import RpmScheme
from stockade.match.versions.rubygems import RubyGemsScheme
from stockade.match.versions.semver import SemverScheme

SEMVER = "SEMVER"
"""Not an ecosystem: the name :func:`scheme_for` gives OSV ``SEMVER`` ranges."""

_FACTORIES: dict[str, Callable[[], VersionScheme]] = {
    "Debian": DpkgScheme,
    "Ubuntu": DpkgScheme,
    "Alpine": ApkScheme,
    "Wolfi": ApkScheme,
    "Chainguard": ApkScheme,
    "Red Hat": RpmScheme,
    "AlmaLinux": RpmScheme,
    "Rocky Linux": RpmScheme,
    "SUSE": RpmScheme,
    "openSUSE": RpmScheme,
    "openEuler": RpmScheme,
    "Photon OS": RpmScheme,
    "Azure Linux": RpmScheme,
    "Mageia": RpmScheme,
    "PyPI": Pep440Scheme,
    "npm": lambda: SemverScheme("npm"),
    "Go": lambda: SemverScheme("go"),
    "crates.io": lambda: SemverScheme("cargo"),
    "Hex": lambda: SemverScheme("hex"),
    SEMVER: SemverScheme,
    "Maven": MavenScheme,
    "RubyGems": RubyGemsScheme,
    "Packagist": ComposerScheme,
    "NuGet": NuGetScheme,
}
_FOLDED = {name.casefold(): name for name in _FACTORIES}

SUPPORTED_ECOSYSTEMS: frozenset[str] = frozenset(_FACTORIES) - {SEMVER}
"""OSV ecosystem names (without a ``:`` suffix) that :func:`scheme_for` knows."""


def base_ecosystem(ecosystem: str) -> str:
    """The ecosystem without its release or repository suffix: "Debian:12" -> "Debian"."""
    return ecosystem.partition(":")[0].strip()


def scheme_for(ecosystem: str) -> VersionScheme:
    """The version scheme of an OSV ecosystem; raises :class:`UnsupportedEcosystem`.

    Schemes are shared, so their key caches serve every caller.
    """
    base = base_ecosystem(ecosystem)
    name = base if base in _FACTORIES else _FOLDED.get(base.casefold())
    if name is None:
        raise UnsupportedEcosystem(ecosystem)
    return _shared_scheme(_FACTORIES[name])


@cache
def _shared_scheme(factory: Callable[[], VersionScheme]) -> VersionScheme:
    return factory()
