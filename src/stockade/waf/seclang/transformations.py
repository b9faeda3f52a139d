"""SecLang transformations (``t:``): pure functions from a value to a value.

Values are byte strings held as ``str`` decoded as Latin-1: one character per byte, so
every transformation sees exactly the bytes ModSecurity and Coraza see, and Python's
string speed is kept. Each function follows the semantics ModSecurity v2 documents (and
Coraza's test cases pin down); comments note where the two engines are known to differ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html.entities
import re
import unicodedata
from collections.abc import Callable
from typing import Final

Transformation = Callable[[str], str]

_HEX: Final = frozenset("0123456789abcdefABCDEF")
_WS: Final = " \t\n\r\f\v"


def _utf8_latin1(codepoint: int) -> str:
    """A code point as its UTF-8 bytes, held Latin-1 (the engine's byte representation)."""
    try:
        return chr(codepoint).encode("utf-8", "surrogatepass").decode("latin-1")
    except (ValueError, OverflowError):
        return ""


def lowercase(value: str) -> str:
    # ASCII only: a byte >= 0x80 is not a letter in the byte view.
    return (
        value.lower() if value.isascii() else "".join(c.lower() if c < "\x80" else c for c in value)
    )


def uppercase(value: str) -> str:
    return (
        value.upper() if value.isascii() else "".join(c.upper() if c < "\x80" else c for c in value)
    )


_URL_ESCAPE: Final = re.compile(r"%([0-9a-fA-F]{2})")
_URL_UNI_ESCAPE: Final = re.compile(r"%(?:[uU]([0-9a-fA-F]{4})|([0-9a-fA-F]{2}))")


def url_decode(value: str) -> str:
    if "%" not in value and "+" not in value:
        return value
    return _URL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value.replace("+", " "))


_BEST_FIT_PUNCTUATION: Final = {
    0x2018: "'",
    0x2019: "'",
    0x201A: ",",
    0x201C: '"',
    0x201D: '"',
    0x201E: '"',
    0x2013: "-",
    0x2014: "-",
    0x2026: ".",
    0x02C6: "^",
    0x02DC: "~",
    0x2039: "<",
    0x203A: ">",
}


def _full_width_to_byte(codepoint: int) -> str:
    """One byte for a %uXXXX escape, as ModSecurity's best-fit (code page 20127) mapping.

    Full-width ASCII folds to ASCII, accented Latin letters to their base letter, typographic
    quotes and dashes to their ASCII forms; anything else keeps its low byte.
    """
    if codepoint < 0x80:
        return chr(codepoint)
    if 0xFF01 <= codepoint <= 0xFF5E:
        return chr(codepoint - 0xFEE0)
    fitted = _BEST_FIT_PUNCTUATION.get(codepoint)
    if fitted is not None:
        return fitted
    if codepoint <= 0x10FFFF:
        char = chr(codepoint)
        if char.isalpha():
            base = unicodedata.normalize("NFKD", char)[:1]
            if base.isascii() and base.isalpha():
                return base
    return chr(codepoint & 0xFF)


def url_decode_uni(value: str) -> str:
    if "%" not in value and "+" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return _full_width_to_byte(int(match.group(1), 16))
        return chr(int(match.group(2), 16))

    return _URL_UNI_ESCAPE.sub(replace, value.replace("+", " "))


_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_*")


def url_encode(value: str) -> str:
    out = []
    for char in value:
        if char in _UNRESERVED:
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{ord(char):02x}")
    return "".join(out)


def remove_nulls(value: str) -> str:
    return value.replace("\x00", "")


def replace_nulls(value: str) -> str:
    return value.replace("\x00", " ")


def remove_whitespace(value: str) -> str:
    # ModSecurity also removes the non-breaking space (0xA0).
    return value.translate(_REMOVE_WS)


_REMOVE_WS: Final = {ord(c): None for c in _WS + "\xa0"}

_WS_RUN: Final = re.compile(r"[ \t\n\r\f\v\xa0]+")


def compress_whitespace(value: str) -> str:
    return _WS_RUN.sub(" ", value)


def trim_left(value: str) -> str:
    return value.lstrip(_WS)


def trim_right(value: str) -> str:
    return value.rstrip(_WS)


def trim(value: str) -> str:
    return value.strip(_WS)


def length(value: str) -> str:
    return str(len(value))


def md5(value: str) -> str:
    return hashlib.md5(value.encode("latin-1"), usedforsecurity=False).digest().decode("latin-1")


def sha1(value: str) -> str:
    return hashlib.sha1(value.encode("latin-1"), usedforsecurity=False).digest().decode("latin-1")


def hex_encode(value: str) -> str:
    return value.encode("latin-1").hex()


def hex_decode(value: str) -> str:
    try:
        return bytes.fromhex(value).decode("latin-1")
    except ValueError:
        return ""


def base64_encode(value: str) -> str:
    return base64.b64encode(value.encode("latin-1")).decode("ascii")


_B64_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_decode(value: str) -> str:
    # Decodes up to the first character outside the alphabet, as ModSecurity does.
    end = 0
    for char in value:
        if char not in _B64_CHARS:
            break
        end += 1
    return _b64(value[:end])


def base64_decode_ext(value: str) -> str:
    # Forgiving: skips characters outside the alphabet (and padding) wherever they are.
    return _b64("".join(c for c in value if c in _B64_CHARS))


def _b64(data: str) -> str:
    usable = len(data) - len(data) % 4
    tail = data[usable:]
    if len(tail) == 1:
        tail = ""
    padded = data[:usable] + tail + "=" * (-len(tail) % 4)
    try:
        return base64.b64decode(padded, validate=False).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


_CMD_LINE_WORK: Final = re.compile("[\"'\\\\^ ,;\t\r\nA-Z]")
"""A character ``cmd_line`` removes, replaces or lower-cases: without one it changes
nothing."""


def cmd_line(value: str) -> str:
    """Windows/Unix command-line evasion folding, as ModSecurity's ``cmdLine``."""
    if _CMD_LINE_WORK.search(value) is None:
        return value
    out: list[str] = []
    space = False
    for char in value:
        if char in "\"'\\^":
            continue
        if char in " ,;\t\r\n":
            space = True
            continue
        if char in "/(":
            # whitespace before a slash or an open parenthesis is dropped
            space = False
        elif space:
            out.append(" ")
            space = False
        out.append(char.lower() if char < "\x80" else char)
    return "".join(out)


def remove_comments(value: str) -> str:
    return _remove_comments_strict(value)


def _remove_comments_strict(value: str) -> str:
    if "/*" not in value and "--" not in value and "#" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        if value.startswith("/*", i):
            end = value.find("*/", i + 2)
            if end < 0:
                out.append(" ")
                break
            i = end + 2
        elif value.startswith("<!--", i):
            end = value.find("-->", i + 4)
            if end < 0:
                out.append(" ")
                break
            i = end + 3
        elif value.startswith("--", i) or value[i] == "#":
            break
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def replace_comments(value: str) -> str:
    if "/*" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        if value.startswith("/*", i):
            end = value.find("*/", i + 2)
            out.append(" ")
            if end < 0:
                break
            i = end + 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def remove_comments_char(value: str) -> str:
    if "/*" not in value and "*/" not in value and "--" not in value and "#" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        if value.startswith(("/*", "*/"), i):
            i += 2
        elif value.startswith("<!--", i):
            i += 4
        elif value.startswith("-->", i):
            i += 3
        elif value.startswith("--", i):
            i += 2
        elif value[i] == "#":
            i += 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _normalise(value: str, windows: bool) -> str:
    if not value:
        return value
    if windows:
        value = value.replace("\\", "/")
    if "//" not in value and "/." not in value and not value.startswith("."):
        # No empty, "." or ".." segment: only a leading and a trailing slash, both kept.
        return value
    absolute = value.startswith("/")
    trailing = value.endswith("/")
    if value.endswith("/..") or value == "..":
        trailing = False
    parts: list[str] = []
    for part in value.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append("..")
            continue
        parts.append(part)
    result = "/".join(parts)
    if absolute:
        result = "/" + result
    if trailing and parts and not result.endswith("/"):
        result += "/"
    elif value.endswith("/..") and parts and parts[-1] == "..":
        pass
    if trailing and not parts and absolute:
        result = "/"
    if value.endswith("/..") and parts and parts[-1] != ".." and not result.endswith("/"):
        pass
    return result


def normalise_path(value: str) -> str:
    return _normalise(value, windows=False)


def normalise_path_win(value: str) -> str:
    return _normalise(value, windows=True)


def _named_entity(name: str) -> str | None:
    text = html.entities.html5.get(name + ";")
    if text is None:
        return None
    return _byteify(ord(text[0])) if len(text) == 1 else None


def _byteify(codepoint: int) -> str:
    # ModSecurity keeps only the low byte of a decoded entity.
    return chr(codepoint & 0xFF)


_ENTITY: Final = re.compile(r"&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([a-zA-Z][a-zA-Z0-9]*);)")
_BASIC_ENTITIES: Final = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}


def html_entity_decode(value: str) -> str:
    if "&" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        hex_digits, dec_digits, name = match.groups()
        try:
            if hex_digits is not None:
                return _byteify(int(hex_digits[:8], 16))
            if dec_digits is not None:
                return _byteify(int(dec_digits[:10]))
        except ValueError:
            return match.group(0)
        basic = _BASIC_ENTITIES.get(name.lower())
        if basic is not None:
            return basic
        decoded = _named_entity(name)
        return decoded if decoded is not None else match.group(0)

    return _ENTITY.sub(replace, value)


_JS_SIMPLE: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


def js_decode(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        char = value[i]
        if char != "\\" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt in "uU" and i + 5 < n + 0 and _all_hex(value[i + 2 : i + 6]):
            out.append(_full_width_to_byte(int(value[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in "xX" and i + 3 < n + 0 and _all_hex(value[i + 2 : i + 4]):
            out.append(chr(int(value[i + 2 : i + 4], 16)))
            i += 4
        elif "0" <= nxt <= "7":
            j = i + 1
            digits = ""
            while j < n and len(digits) < 3 and "0" <= value[j] <= "7":
                digits += value[j]
                j += 1
            if len(digits) == 3 and int(digits, 8) > 0o377:
                digits = digits[:2]
                j -= 1
            out.append(chr(int(digits, 8)))
            i = j
        else:
            out.append(_JS_SIMPLE.get(nxt, nxt))
            i += 2
    return "".join(out)


def _all_hex(text: str) -> bool:
    return len(text) > 0 and all(c in _HEX for c in text)


def css_decode(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        char = value[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= n:
            # a trailing backslash is dropped
            i += 1
            continue
        j = i + 1
        while j < n and j - i - 1 < 6 and value[j] in _HEX:
            j += 1
        digits = value[i + 1 : j]
        if digits:
            codepoint = int(digits, 16)
            if len(digits) == 6 and codepoint > 0xFF:
                # full-width ASCII folds to ASCII; else the low byte
                out.append(_full_width_to_byte(codepoint))
            else:
                out.append(_full_width_to_byte(codepoint))
            if j < n and value[j] == " ":
                j += 1
            i = j
            continue
        if value[i + 1] == "\n":
            i += 2
            continue
        out.append(value[i + 1])
        i += 2
    return "".join(out)


_ESCAPES: Final = {**_JS_SIMPLE, "\\": "\\", "?": "?", "'": "'", '"': '"'}


def escape_seq_decode(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        char = value[i]
        if char != "\\" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xX" and i + 3 < n + 0 and _all_hex(value[i + 2 : i + 4]):
            out.append(chr(int(value[i + 2 : i + 4], 16)))
            i += 4
        elif "0" <= nxt <= "7":
            j = i + 1
            while j < n and j - i - 1 < 3 and "0" <= value[j] <= "7":
                j += 1
            out.append(chr(int(value[i + 1 : j], 8) & 0xFF))
            i = j
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def sql_hex_decode(value: str) -> str:
    return re.sub(
        r"0[xX]((?:[0-9a-fA-F]{2})+)",
        lambda m: bytes.fromhex(m.group(1)).decode("latin-1"),
        value,
    )


def utf8_to_unicode(value: str) -> str:
    """UTF-8 sequences become ``%uXXXX``; invalid bytes pass through unchanged."""
    if value.isascii():
        return value
    out: list[str] = []
    data = value.encode("latin-1")
    i = 0
    n = len(data)
    while i < n:
        byte = data[i]
        if byte < 0x80:
            out.append(chr(byte))
            i += 1
            continue
        if byte >> 5 == 0x6:
            size = 2
        elif byte >> 4 == 0xE:
            size = 3
        elif byte >> 3 == 0x1E:
            size = 4
        else:
            out.append(chr(byte))
            i += 1
            continue
        chunk = data[i : i + size]
        try:
            codepoint = ord(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(chr(byte))
            i += 1
            continue
        out.append(f"%u{codepoint:04x}")
        i += size
    return "".join(out)


def _parity(value: str, mode: str) -> str:
    out = []
    for char in value:
        code = ord(char) & 0x7F
        ones = bin(code).count("1")
        if (mode == "even" and ones % 2) or (mode == "odd" and not ones % 2):
            code |= 0x80
        out.append(chr(code))
    return "".join(out)


def parity_even_7bit(value: str) -> str:
    return _parity(value, "even")


def parity_odd_7bit(value: str) -> str:
    return _parity(value, "odd")


def parity_zero_7bit(value: str) -> str:
    return _parity(value, "zero")


def none(value: str) -> str:
    return value


TRANSFORMATIONS: Final[dict[str, Transformation]] = {
    "base64decode": base64_decode,
    "base64decodeext": base64_decode_ext,
    "base64encode": base64_encode,
    "cmdline": cmd_line,
    "compresswhitespace": compress_whitespace,
    "cssdecode": css_decode,
    "escapeseqdecode": escape_seq_decode,
    "hexdecode": hex_decode,
    "hexencode": hex_encode,
    "htmlentitydecode": html_entity_decode,
    "jsdecode": js_decode,
    "length": length,
    "lowercase": lowercase,
    "md5": md5,
    "normalisepath": normalise_path,
    "normalizepath": normalise_path,
    "normalisepathwin": normalise_path_win,
    "normalizepathwin": normalise_path_win,
    "parityeven7bit": parity_even_7bit,
    "parityodd7bit": parity_odd_7bit,
    "parityzero7bit": parity_zero_7bit,
    "removecomments": remove_comments,
    "removecommentschar": remove_comments_char,
    "removenulls": remove_nulls,
    "removewhitespace": remove_whitespace,
    "replacecomments": replace_comments,
    "replacenulls": replace_nulls,
    "sha1": sha1,
    "sqlhexdecode": sql_hex_decode,
    "trim": trim,
    "trimleft": trim_left,
    "trimright": trim_right,
    "uppercase": uppercase,
    "urldecode": url_decode,
    "urldecodeuni": url_decode_uni,
    "urlencode": url_encode,
    "utf8tounicode": utf8_to_unicode,
}


def lookup(name: str) -> Transformation | None:
    """The transformation called ``name`` (case-insensitive), or None when unknown."""
    return TRANSFORMATIONS.get(name.lower())
