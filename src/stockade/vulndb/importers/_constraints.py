"""The fix versions that native constraint strings name, for display only.

``>= 1.5.2``, ``~> 2.1.3`` and ``^6.11.1`` each start at the version that has the fix;
this reads those starting points out of the text. It does not compare versions: which
installed version satisfies a constraint is decided by the version schemes in
:mod:`stockade.match`.
"""

from __future__ import annotations

import re
from typing import Final

_COMPARATOR: Final = re.compile(r"(>=|<=|~>|>|<|=|\^|~)?\s*v?(\d[0-9A-Za-z.+\-]*)")
_LOWER_BOUND_OPERATORS: Final = frozenset({">=", "~>", "=", "^", "~", ""})


def fix_versions(constraints: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The version each alternative of each constraint starts at, where it names one.

    npm's ``||`` alternatives and RubyGems' separate requirements each give one version;
    an alternative with no lower bound (``<2.0.0``) gives none.
    """
    found: list[str] = []
    for constraint in constraints:
        for alternative in constraint.split("||"):
            for match in _COMPARATOR.finditer(alternative):
                operator, version = match.group(1) or "", match.group(2)
                if operator in _LOWER_BOUND_OPERATORS:
                    found.append(version.rstrip(".-+"))
                    break
    return tuple(dict.fromkeys(v for v in found if v))
