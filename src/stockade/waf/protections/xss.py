"""Cross-site scripting: libinjection's HTML5 tokenizer, plus script schemes and handlers.

Each value is judged as sent, decoded again, with HTML entities decoded and with
JavaScript escapes decoded, since a payload reaches the browser through any of them.
"""

from __future__ import annotations

import html
import re
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import (
    PatternRule,
    PatternSet,
    VerdictMemo,
    detection,
    first_match,
    snippet,
)
from stockade.waf.protections.libinjection_c import xss as libinjection_xss
from stockade.waf.protections.view import (
    ARG,
    ARG_NAME,
    COOKIE,
    COOKIE_NAME,
    PATH,
    XML,
    Input,
    RequestView,
)

__all__ = ["CrossSiteScripting", "js_decode", "strip_block_comments"]

SKIPPED_HEADERS: Final = frozenset(
    {
        "host",
        "accept",
        "accept-language",
        "accept-charset",
        "content-length",
        "content-type",
        "connection",
        "accept-encoding",
        "cache-control",
        "pragma",
        "te",
        "keep-alive",
        "upgrade-insecure-requests",
        "if-none-match",
        "if-modified-since",
        "priority",
    }
)
"""Headers whose syntax leaves no room for markup a browser would run; every other
header is inspected (CRS's tests put payloads in arbitrary headers)."""
KINDS: Final = frozenset({ARG, ARG_NAME, COOKIE, COOKIE_NAME, PATH, XML})

TRIGGER: Final = re.compile(r"[<>=:(`&\\%]|\bon").search
"""Values without any of these skip the XSS checks: no tag, attribute, scheme, call,
entity, escape or encoding to hide one in."""

_JS_ESCAPE: Final = re.compile(r"\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
_SPACE_AND_CONTROL: Final = re.compile(r"[\x00-\x20]+")

_PATTERNS: Final = PatternSet(
    PatternRule(
        "xss.script-tag",
        "script-capable HTML element",
        r"<\s*/?\s*(?:script|iframe|frame|frameset|object|embed|applet|meta|base|isindex|"
        r"template|portal)\b",
        ("<",),
    ),
    PatternRule(
        "xss.event-handler",
        "HTML event handler with script",
        r"(?:<[a-z!][^>]{0,300}?[\s/\"'`]|^|[\"'`;\s/])on[a-z]{3,40}\s*=\s*[\"'`]?\s*"
        r"(?:alert|prompt|confirm|eval|javascript|document|window|top\b|self\b|parent\b|"
        r"this\b|fetch|import|atob|location|string\.fromcharcode|[a-z_$][\w$.]*\s*[(`])",
        ("=",),
    ),
    PatternRule(
        "xss.tag-handler",
        "HTML element with an event handler",
        r"<[a-z][\w:-]{0,40}[^>]{0,300}?[\s/\"'`]on[a-z]{3,40}\s*=",
        ("<",),
    ),
    PatternRule(
        "xss.css",
        "script in CSS",
        r"expression\s*\(|-moz-binding\s*:|behavior\s*:\s*url|@import\s+['\"]?\s*javascript",
        ("expression", "-moz-binding", "behavior", "@import"),
    ),
    PatternRule(
        "xss.dom",
        "DOM access or dialog call typical of XSS payloads",
        r"\b(?:alert|prompt|confirm)\s*(?:\(\s*(?:\d|['\"`/]|document|window|this|\)|"
        r"[a-z_$][\w$]*\.)|`)|\bdocument\s*\.\s*(?:cookie|domain|write(?:ln)?\s*\(|location)|"
        r"\bwindow\s*\.\s*location\s*=|\.innerhtml\s*=|\bstring\s*\.\s*fromcharcode\s*\(|"
        r"\b(?:document|window|self|top|parent|globalthis|frames)\s*\)?\s*\[\s*[\"'`]|"
        r"\b(?:settimeout|setinterval)\s*\(|\bnew\s+function\s*\(|"
        r"\.\s*(?:call|apply|bind)\s*`|`[^`]{0,200}\$\{\s*(?:alert|prompt|confirm|eval)\b",
        (
            "alert",
            "prompt",
            "confirm",
            "document",
            "window",
            "innerhtml",
            "fromcharcode",
            "[",
            "settimeout",
            "setinterval",
            "function",
            "`",
        ),
    ),
    PatternRule(
        "xss.obfuscation",
        "JavaScript or UTF-7 obfuscation",
        r"\(\s*!\s*\[\s*\]|\+\s*!\s*\+?\s*\[\s*\]|!!\s*\[\s*\]|\+adw-|\+ad4-",
        ("!", "+ad"),
    ),
)

_SCHEME: Final = re.compile(
    r"(?:javascript|vbscript|livescript|mocha|jscript):|data:(?:text/html|image/svg\+xml|"
    r"application/(?:x-)?(?:javascript|ecmascript|xhtml\+xml))"
)


def _js_char(match: re.Match[str]) -> str:
    code = int(match.group(1) or match.group(2) or match.group(3), 16)
    if code < 0x100:
        return chr(code)
    if code > 0x10FFFF:
        return ""
    return chr(code).encode("utf-8", "surrogatepass").decode("latin-1")


def js_decode(text: str) -> str:
    """``\\xHH``, ``\\uHHHH`` and ``\\u{H…}`` escapes decoded."""
    if "\\" not in text:
        return text
    return _JS_ESCAPE.sub(_js_char, text)


_BREAKOUT: Final = re.compile(r"[<>\"'`\s/]").search
"""libinjection also flags bare attribute text (``style=color:red``); a payload needs a
tag, a quote or a separator to leave the context it lands in."""
_HIGH_BIT: Final = {c: c - 0x80 for c in range(0xA0, 0x100)}


def strip_block_comments(text: str) -> str:
    """``/* … */`` comments removed (an unterminated one runs to the end); linear time."""
    out: list[str] = []
    position = 0
    while True:
        start = text.find("/*", position)
        if start < 0:
            out.append(text[position:])
            return "".join(out)
        out.append(text[position:start])
        end = text.find("*/", start + 2)
        if end < 0:
            return "".join(out)
        position = end + 2


def _forms(item: Input) -> list[str]:
    forms = list(item.forms())
    last = forms[-1]
    if "\xbc" in last and "\xbe" in last:
        # Seven-bit US-ASCII back ends drop the high bit: \xbc is '<', \xbe is '>'.
        forms.append(last.translate(_HIGH_BIT))
    if "&" in last:
        unescaped = html.unescape(last)
        if unescaped != last:
            forms.append(unescaped)
            last = unescaped
    if "\\" in last:
        decoded = js_decode(last)
        if decoded != last:
            forms.append(decoded)
    return forms


class CrossSiteScripting:
    """Detects XSS in arguments, cookies, XML, the path, User-Agent and Referer."""

    name = "xss"

    def __init__(self) -> None:
        self._memo = VerdictMemo()
        self._path_memo = VerdictMemo()

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        for item in view.suspects:
            if item.kind in KINDS and TRIGGER(item.value):
                hit = (
                    self._path_memo.check(item, self._check)
                    if item.kind == PATH
                    else self._check(item)
                )
                if hit is not None:
                    found.append(hit)
        for item in view.header_inputs:
            if (
                item.name not in SKIPPED_HEADERS
                and not item.name.startswith("sec-")
                and TRIGGER(item.value)
            ):
                hit = self._memo.check(item, self._check)
                if hit is not None:
                    found.append(hit)
        return found

    def _check(self, item: Input) -> Detection | None:
        forms = _forms(item)
        for form in forms:
            if _BREAKOUT(form) and libinjection_xss(form):
                return detection(
                    self.name,
                    "xss.libinjection",
                    "cross-site scripting (libinjection)",
                    item,
                    matched=snippet(form),
                )
        for form in forms:
            lowered = form.lower()
            if "/*" in lowered:
                lowered = strip_block_comments(lowered)
            found = first_match(_PATTERNS, lowered)
            if found is not None:
                rule, match = found
                return detection(
                    self.name,
                    rule.rule_id,
                    rule.message,
                    item,
                    matched=snippet(lowered, match.start()),
                )
            if ":" in lowered:
                squeezed = _SPACE_AND_CONTROL.sub("", lowered)
                scheme = _SCHEME.search(squeezed)
                if scheme:
                    return detection(
                        self.name,
                        "xss.script-scheme",
                        "script URL scheme",
                        item,
                        matched=snippet(squeezed, scheme.start()),
                    )
        return None
