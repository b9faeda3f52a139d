"""The pages the proxy answers with itself: the block page and short error pages."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

from stockade.waf.proxy.config import ProxyConfigError
from stockade.waf.proxy.h1 import REASONS

__all__ = ["DEFAULT_BLOCK_PAGE", "BlockPage", "error_page"]

DEFAULT_BLOCK_PAGE: Final = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Request blocked</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;
padding:0 1rem;color:#222} code{background:#f2f2f2;padding:.1rem .3rem}</style></head>
<body>
<h1>Request blocked</h1>
<p>The web application firewall refused this request ({{status}}).</p>
<p>Incident id: <code>{{incident_id}}</code></p>
<p>If you think this is a mistake, send the incident id to the site's administrators.</p>
</body>
</html>
"""
"""Placeholders: ``{{incident_id}}``, ``{{status}}`` and ``{{reason}}`` (HTML-escaped)."""

MAX_PAGE_BYTES: Final = 256 * 1024


class BlockPage:
    """The page a refused request gets, from a template with ``{{incident_id}}``."""

    def __init__(self, template: str = DEFAULT_BLOCK_PAGE) -> None:
        self.template = template

    @classmethod
    def from_file(cls, path: Path) -> BlockPage:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProxyConfigError(f"block page {path}: {exc.strerror or exc}") from exc
        if len(data) > MAX_PAGE_BYTES:
            raise ProxyConfigError(f"block page {path} is larger than {MAX_PAGE_BYTES} bytes")
        try:
            return cls(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ProxyConfigError(f"block page {path} is not UTF-8") from exc

    def render(self, status: int, incident_id: str) -> bytes:
        values = {
            "{{incident_id}}": html.escape(incident_id),
            "{{status}}": str(status),
            "{{reason}}": html.escape(REASONS.get(status, "")),
        }
        text = self.template
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text.encode("utf-8")


def error_page(status: int) -> bytes:
    reason = REASONS.get(status, "Error")
    return (
        f"<!doctype html><html><head><title>{status} {reason}</title></head>"
        f"<body><h1>{status} {reason}</h1></body></html>\n"
    ).encode("ascii")
