"""NuGet package versions: SemVer 2.0 with an optional fourth number and no case in labels.

``major[.minor[.patch[.revision]]][-label[.label]...][+metadata]``: missing numbers are
zero, labels compare case-insensitively (numeric labels as numbers, below words), a
release sorts after its pre-releases and metadata is ignored.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

_NUGET = re.compile(
    r"[vV]?(?P<core>[0-9]+(?:\.[0-9]+){0,3})"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_RELEASE = (1,)


class NuGetScheme(VersionScheme):
    """``NuGet.Versioning.VersionComparer`` ordering (metadata ignored)."""

    name = "nuget"

    def _parse(self, version: str) -> Any:
        match = _NUGET.fullmatch(version.strip())
        if not match:
            raise self.invalid(version, "expected up to four numbers, then -labels and +metadata")
        numbers = [int(part) for part in match.group("core").split(".")]
        numbers += [0] * (4 - len(numbers))
        pre = match.group("pre")
        if pre is None:
            return (tuple(numbers), _RELEASE)
        labels = tuple(
            (0, int(label), "") if label.isdigit() else (1, 0, label.upper())
            for label in pre.split(".")
        )
        return (tuple(numbers), (0, labels))
