"""Shellshock (CVE-2014-6271 and kin): a bash function definition, ``() {``, in a header
or argument that a CGI program would export into bash's environment."""

from __future__ import annotations

import re
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import detection, snippet
from stockade.waf.protections.view import ARG, COOKIE, RequestView

__all__ = ["Shellshock"]

_FUNCTION: Final = re.compile(r"\(\s*\)\s*\{")
_LEADING: Final = re.compile(r"^\s*\(\s*\)\s*\{")


class Shellshock:
    """Detects bash function definitions where CGI would put environment variables."""

    name = "shellshock"

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.header_inputs:
            if "(" in item.value or "%" in item.value:
                for form in item.forms():
                    match = _FUNCTION.search(form)
                    if match:
                        found.append(
                            detection(
                                self.name,
                                "shellshock.header",
                                "bash function definition in a header (Shellshock)",
                                item,
                                matched=snippet(form, match.start()),
                            )
                        )
                        break
        for item in view.suspects:
            if item.kind in (ARG, COOKIE) and "(" in item.normalised():
                match = _LEADING.search(item.normalised())
                if match:
                    found.append(
                        detection(
                            self.name,
                            "shellshock.argument",
                            "bash function definition in an argument (Shellshock)",
                            item,
                            matched=snippet(item.normalised()),
                        )
                    )
        return found
