"""Version schemes and version ranges: pure functions over strings, no I/O.

>>> from stockade.match.versions import scheme_for
>>> scheme_for("Debian:12").compare("1.2.3-1~deb12u1", "1.2.3-1")
-1
>>> scheme_for("PyPI").key("1.0rc1") < scheme_for("PyPI").key("1.0")
True
"""

from stockade.match.versions.apk import ApkScheme
from stockade.match.versions.composer import ComposerScheme
from stockade.match.versions.constraints import (
    AllOf,
    AnyOf,
    Comparator,
    Constraint,
    Operator,
    parse_constraint,
    parse_gem_requirements,
    parse_npm_range,
    satisfies,
)
from stockade.match.versions.dpkg import DpkgScheme
from stockade.match.versions.ecosystems import (
    SEMVER,
    SUPPORTED_ECOSYSTEMS,
    base_ecosystem,
    scheme_for,
)
from stockade.match.versions.interface import (
    InvalidConstraint,
    InvalidVersion,
    UnsupportedEcosystem,
    VersionError,
    VersionKey,
    VersionScheme,
)
from stockade.match.versions.maven import MavenScheme
from stockade.match.versions.nuget import NuGetScheme
from stockade.match.versions.pep440 import Pep440Scheme
from stockade.match.versions.ranges import (
    AffectedRange,
    Event,
    EventKind,
    InvalidRange,
    RangeType,
    affected,
)
from stockade.match.versions.rpm import RpmScheme
from stockade.match.versions.rubygems import RubyGemsScheme
from stockade.match.versions.semver import SemverScheme

__all__ = [
    "SEMVER",
    "SUPPORTED_ECOSYSTEMS",
    "AffectedRange",
    "AllOf",
    "AnyOf",
    "ApkScheme",
    "Comparator",
    "ComposerScheme",
    "Constraint",
    "DpkgScheme",
    "Event",
    "EventKind",
    "InvalidConstraint",
    "InvalidRange",
    "InvalidVersion",
    "MavenScheme",
    "NuGetScheme",
    "Operator",
    "Pep440Scheme",
    "RangeType",
    "RpmScheme",
    "RubyGemsScheme",
    "SemverScheme",
    "UnsupportedEcosystem",
    "VersionError",
    "VersionKey",
    "VersionScheme",
    "affected",
    "base_ecosystem",
    "parse_constraint",
    "parse_gem_requirements",
    "parse_npm_range",
    "satisfies",
    "scheme_for",
]
