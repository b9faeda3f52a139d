"""Attack tools and vulnerability scanners, recognised by their User-Agent.

The list of fragments lives in ``data/scanners.txt`` (one per line, matched
case-insensitively anywhere in the User-Agent); callers may add their own. Also flags the
headers some commercial scanners add to every request they send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import detection, snippet
from stockade.waf.protections.view import RequestView

__all__ = ["ScannerDetection", "default_user_agents"]

SCANNER_HEADERS: Final = frozenset(
    {
        "acunetix-aspect",
        "acunetix-aspect-password",
        "acunetix-aspect-queries",
        "x-wipp",
        "x-scan-memo",
        "x-request-memo",
        "x-requestmanager-memo",
        "x-scanner",
        "x-burp-scan",
    }
)
"""Headers that scanners (Acunetix, WebInspect, AppScan…) add to their requests."""


def default_user_agents() -> tuple[str, ...]:
    """The shipped fragments, lower-cased, comments and blank lines dropped."""
    text = (resources.files("stockade.waf.protections") / "data" / "scanners.txt").read_text(
        encoding="utf-8"
    )
    return tuple(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


class ScannerDetection:
    """Detects scanners by User-Agent fragment or by a scanner's own header."""

    name = "scanner"

    def __init__(self, user_agents: Iterable[str] | None = None, *, extra: Iterable[str] = ()):
        fragments = tuple(user_agents) if user_agents is not None else default_user_agents()
        fragments += tuple(extra)
        cleaned = sorted({f.strip().lower() for f in fragments if f.strip()}, key=len, reverse=True)
        self.fragments: tuple[str, ...] = tuple(cleaned)
        self._pattern = re.compile("|".join(re.escape(f) for f in cleaned)) if cleaned else None

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.header_inputs:
            if item.name == "user-agent" and self._pattern is not None:
                match = self._pattern.search(item.value.lower())
                if match:
                    found.append(
                        detection(
                            self.name,
                            "scanner.user-agent",
                            f"User-Agent of an attack tool or scanner ({match.group(0)})",
                            item,
                            matched=snippet(item.value),
                            severity="error",
                        )
                    )
            elif item.name in SCANNER_HEADERS:
                found.append(
                    detection(
                        self.name,
                        "scanner.header",
                        f"header sent by a vulnerability scanner ({item.name})",
                        item,
                        matched=snippet(item.value),
                        severity="error",
                    )
                )
        return found
