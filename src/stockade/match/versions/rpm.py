"""RPM package versions (Red Hat, AlmaLinux, Rocky, Fedora, SUSE, ...), ordered as rpm does.

``[epoch:]version[-release]``: the epoch is the leading run of digits before a colon
(anything else before a colon is part of the version), the release follows the last
hyphen. Version and release are cut into numeric and alphabetic segments; every other
character only separates them. At one position ``~`` sorts before the end of the string,
the end before ``^``, ``^`` before letters, letters before digits. Numbers compare as
numbers, letters as ASCII strings. A missing release sorts before any release.
"""

from __future__ import annotations

import re
from typing import Any

from stockade.match.versions.interface import VersionScheme

_SEGMENT = re.compile(r"[0-9]+|[A-Za-z]+|~|\^")
_EPOCH = re.compile(r"([0-9]*):")

_TILDE, _END, _CARET, _ALPHA, _NUMBER = range(5)
_END_TOKEN = (_END, 0)


def _segments_key(text: str) -> tuple[tuple[int, Any], ...]:
    tokens: list[tuple[int, Any]] = []
    for segment in _SEGMENT.findall(text):
        if segment == "~":
            tokens.append((_TILDE, 0))
        elif segment == "^":
            tokens.append((_CARET, 0))
        elif segment[0].isdigit():
            tokens.append((_NUMBER, int(segment)))
        else:
            tokens.append((_ALPHA, segment))
    tokens.append(_END_TOKEN)
    return tuple(tokens)


class RpmScheme(VersionScheme):
    """``rpmvercmp`` ordering of epoch, version and release."""

    name = "rpm"

    def _parse(self, version: str) -> Any:
        text = version.strip()
        epoch = 0
        match = _EPOCH.match(text)
        if match:
            epoch = int(match.group(1) or "0")
            text = text[match.end() :]
        upstream, hyphen, release = text.rpartition("-")
        if not hyphen:
            return (epoch, _segments_key(text), (0,))
        return (epoch, _segments_key(upstream), (1, _segments_key(release)))
