"""JSON text for reports, written fast: large compliance reports are mostly encoding time.

The standard library's encoder falls back to pure Python as soon as ``indent`` is
given; orjson indents in native code. The output stays ASCII, like ``json.dumps``'s
default: names and messages quoted from artifacts may hold any character, and escaping
them keeps reports safe to show on any terminal and in any log.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def dumps(document: Any) -> str:
    """``document`` as indented, ASCII-only JSON text (no trailing newline)."""
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    # Non-ASCII characters can only stand inside strings, so escaping them anywhere in
    # the text is escaping them in their strings.
    return text if text.isascii() else _NON_ASCII.sub(_escape, text)
