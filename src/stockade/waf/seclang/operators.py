"""SecLang operators (``@rx``, ``@pm``, ``@eq``, ``@detectSQLi``, …).

An operator is compiled once, when the rule is loaded, into an :class:`Operator`: a callable
``(value, context) -> bool``. The context expands macros in parameters that hold them
(``@ge %{tx.inbound_anomaly_score_threshold}``) and receives captures (``TX.0``-``TX.9``)
when the rule asks for them. Values are Latin-1 ``str``, one character per byte.
"""

from __future__ import annotations

import importlib
import ipaddress
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from stockade.waf.seclang.regex import Regex, compile_regex


class MatchContext(Protocol):
    """What an operator may ask of the transaction it runs in."""

    capturing: bool

    def expand(self, text: str) -> str: ...

    def capture(self, groups: Sequence[str]) -> None: ...


class OperatorError(ValueError):
    """The operator is unknown or its parameter is invalid (the loader adds file and line)."""


Matcher = Callable[[str, MatchContext], bool]


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    param: str
    negated: bool
    matcher: Matcher
    regex: Regex | None = None
    """The compiled pattern of ``@rx`` and ``@pm``/``@pmFromFile``: the operator matches a
    value exactly when ``regex.search`` finds it (the engine's multi-pattern prefilter
    relies on this)."""

    def __call__(self, value: str, context: MatchContext) -> bool:
        return self.matcher(value, context) != self.negated


def _load_libinjection() -> Any:
    try:
        return importlib.import_module("libinjection")
    except ImportError:
        return None


_LIBINJECTION: Final[Any] = _load_libinjection()


def libinjection_available() -> bool:
    return _LIBINJECTION is not None


def _has_macro(param: str) -> bool:
    return "%{" in param


def _to_int(text: str) -> int:
    # Like C's atoi (which ModSecurity uses): optional sign, leading digits, else 0.
    if text.isdecimal() and text.isascii():
        return int(text)
    match = _INT.match(text)
    return int(match.group(0)) if match else 0


_INT: Final = re.compile(r"\s*[-+]?\d+")


def _numeric(compare: Callable[[int, int], bool], param: str) -> Matcher:
    if _has_macro(param):

        def dynamic(value: str, ctx: MatchContext) -> bool:
            return compare(_to_int(value), _to_int(ctx.expand(param)))

        return dynamic
    target = _to_int(param)

    def static(value: str, ctx: MatchContext) -> bool:
        if value.isdecimal() and value.isascii():
            return compare(int(value), target)
        return compare(_to_int(value), target)

    return static


def _string(compare: Callable[[str, str], bool], param: str) -> Matcher:
    if _has_macro(param):

        def dynamic(value: str, ctx: MatchContext) -> bool:
            return compare(value, ctx.expand(param))

        return dynamic

    def static(value: str, ctx: MatchContext) -> bool:
        return compare(value, param)

    return static


def _rx(param: str) -> tuple[Matcher, Regex]:
    try:
        regex = compile_regex(param)
    except re.error as exc:
        raise OperatorError(f"@rx pattern does not compile: {exc}") from exc

    def matcher(value: str, ctx: MatchContext) -> bool:
        if not ctx.capturing:
            return regex.search(value)
        groups = regex.captures(value)
        if groups is None:
            return False
        ctx.capture(groups)
        return True

    return matcher, regex


def phrase_matcher(phrases: Sequence[str]) -> Matcher:
    """Case-insensitive multi-substring search (``@pm``): one compiled alternation."""
    return _phrases(phrases)[0]


def _phrases(phrases: Sequence[str]) -> tuple[Matcher, Regex | None]:
    words = sorted({p.lower() for p in phrases if p}, key=len, reverse=True)
    if not words:
        return (lambda value, ctx: False), None
    regex = compile_regex("|".join(re.escape(w) for w in words), ignore_case=True)

    def matcher(value: str, ctx: MatchContext) -> bool:
        if not ctx.capturing:
            return regex.search(value)
        groups = regex.captures(value)
        if groups is None:
            return False
        ctx.capture(groups[:1])
        return True

    return matcher, regex


def _pm_phrases(param: str) -> list[str]:
    return param.split()


def read_data_file(path: Path) -> list[str]:
    """Lines of a ``.data`` file: comments (``#``) and blank lines left out."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise OperatorError(f"cannot read data file {path}: {exc.strerror}") from exc
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _ip_networks(specs: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for spec in specs:
        text = spec.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise OperatorError(f"not an IP address or network: {text!r}") from exc
    return networks


def _ip_match(networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Matcher:
    known: dict[str, bool] = {}

    def matcher(value: str, ctx: MatchContext) -> bool:
        found = known.get(value)
        if found is None:
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                found = False
            else:
                found = any(address in network for network in networks)
            if len(known) >= _IP_MEMO_ENTRIES:
                known.clear()
            known[value] = found
        return found

    return matcher


_IP_MEMO_ENTRIES: Final = 4_096


def _byte_ranges(param: str) -> Matcher:
    allowed = bytearray(256)
    for raw_part in param.split(","):
        part = raw_part.strip()
        if not part:
            continue
        low_text, _, high_text = part.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if high_text else low
        except ValueError as exc:
            raise OperatorError(f"@validateByteRange: bad range {part!r}") from exc
        if not 0 <= low <= high <= 255:
            raise OperatorError(f"@validateByteRange: range {part!r} is outside 0-255")
        for byte in range(low, high + 1):
            allowed[byte] = 1
    outside = "".join(chr(b) for b in range(256) if not allowed[b])
    if not outside:
        return lambda value, ctx: False
    pattern = re.compile("[" + re.escape(outside) + "]")

    def matcher(value: str, ctx: MatchContext) -> bool:
        return pattern.search(value) is not None

    return matcher


_BAD_URL_ENCODING: Final = re.compile(r"%(?![0-9a-fA-F]{2})")


def _validate_url_encoding(value: str, ctx: MatchContext) -> bool:
    return "%" in value and _BAD_URL_ENCODING.search(value) is not None


def _validate_utf8(value: str, ctx: MatchContext) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_LIBINJECTION_MEMO_ENTRIES: Final = 4_096
_LIBINJECTION_MEMO_LENGTH: Final = 256
_SQLI_MEMO: dict[str, str | None] = {}
_XSS_MEMO: dict[str, bool] = {}


def _sqli_fingerprint(value: str) -> str | None:
    """libinjection's fingerprint when ``value`` is SQL injection, else None (remembered:
    the same cookies and arguments come back on every request)."""
    try:
        return _SQLI_MEMO[value]
    except KeyError:
        pass
    result = _LIBINJECTION.is_sql_injection(value)
    found: str | None = None
    if result.get("is_sqli"):
        fingerprint = result.get("fingerprint", "")
        if isinstance(fingerprint, bytes):
            fingerprint = fingerprint.decode("latin-1")
        found = str(fingerprint)
    if len(value) <= _LIBINJECTION_MEMO_LENGTH:
        if len(_SQLI_MEMO) >= _LIBINJECTION_MEMO_ENTRIES:
            _SQLI_MEMO.clear()
        _SQLI_MEMO[value] = found
    return found


def _detect_sqli(value: str, ctx: MatchContext) -> bool:
    if _LIBINJECTION is None or not value:
        return False
    fingerprint = _sqli_fingerprint(value)
    if fingerprint is None:
        return False
    if ctx.capturing:
        ctx.capture([fingerprint])
    return True


def _detect_xss(value: str, ctx: MatchContext) -> bool:
    if _LIBINJECTION is None or not value:
        return False
    try:
        return _XSS_MEMO[value]
    except KeyError:
        pass
    found = bool(_LIBINJECTION.is_xss(value).get("is_xss"))
    if len(value) <= _LIBINJECTION_MEMO_LENGTH:
        if len(_XSS_MEMO) >= _LIBINJECTION_MEMO_ENTRIES:
            _XSS_MEMO.clear()
        _XSS_MEMO[value] = found
    return found


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def _verify_cc(param: str) -> Matcher:
    regex = compile_regex(param)

    def matcher(value: str, ctx: MatchContext) -> bool:
        groups = regex.captures(value)
        if groups is None:
            return False
        digits = "".join(c for c in groups[0] if c.isdigit())
        if len(digits) < 13 or not _luhn(digits):
            return False
        if ctx.capturing:
            ctx.capture(groups[:1])
        return True

    return matcher


def _contains_word(value: str, word: str) -> bool:
    if not word:
        return True
    start = 0
    while True:
        index = value.find(word, start)
        if index < 0:
            return False
        before = value[index - 1] if index else ""
        after_index = index + len(word)
        after = value[after_index] if after_index < len(value) else ""
        if not _is_word_char(before) and not _is_word_char(after):
            return True
        start = index + 1


def _is_word_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char == "_") and char < "\x80"


def _within(value: str, param: str) -> bool:
    # Coraza and ModSecurity: an empty value is "found" in any list.
    return value in param


def compile_operator(spec: str, *, base_dir: Path | None = None) -> Operator:
    """Compile the operator text of a rule (``"@rx foo"``, ``"!@eq 0"``, ``"foo"``)."""
    text = spec
    negated = False
    if text.startswith("!"):
        negated = True
        text = text[1:]
    if not text.startswith("@"):
        # A bare pattern is @rx.
        name, param = "rx", text
    else:
        name, _, param = text[1:].partition(" ")
        param = param.lstrip(" ")
    key = name.lower()
    regex: Regex | None = None
    matcher: Matcher
    if key == "rx":
        matcher, regex = _rx(param)
    elif key == "pm":
        matcher, regex = _phrases(_pm_phrases(param))
    elif key in ("pmfromfile", "pmf"):
        phrases: list[str] = []
        for name_part in param.split():
            phrases.extend(read_data_file(_resolve(name_part, base_dir)))
        matcher, regex = _phrases(phrases)
    elif key in ("ipmatch",):
        matcher = _ip_match(_ip_networks(param.split(",")))
    elif key in ("ipmatchfromfile", "ipmatchf"):
        matcher = _ip_match(_ip_networks(read_data_file(_resolve(param.strip(), base_dir))))
    elif key == "eq":
        matcher = _numeric(operator.eq, param)
    elif key == "ge":
        matcher = _numeric(operator.ge, param)
    elif key == "gt":
        matcher = _numeric(operator.gt, param)
    elif key == "le":
        matcher = _numeric(operator.le, param)
    elif key == "lt":
        matcher = _numeric(operator.lt, param)
    elif key == "streq":
        matcher = _string(lambda v, p: v == p, param)
    elif key in ("contains", "strmatch"):
        matcher = _string(lambda v, p: p in v, param)
    elif key == "containsword":
        matcher = _string(_contains_word, param)
    elif key == "beginswith":
        matcher = _string(lambda v, p: v.startswith(p), param)
    elif key == "endswith":
        matcher = _string(lambda v, p: v.endswith(p), param)
    elif key == "within":
        matcher = _string(_within, param)
    elif key == "validatebyterange":
        matcher = _byte_ranges(param)
    elif key == "validateurlencoding":
        matcher = _validate_url_encoding
    elif key == "validateutf8encoding":
        matcher = _validate_utf8
    elif key == "detectsqli":
        matcher = _detect_sqli
    elif key == "detectxss":
        matcher = _detect_xss
    elif key == "unconditionalmatch":
        matcher = lambda value, ctx: True  # noqa: E731
    elif key == "nomatch":
        matcher = lambda value, ctx: False  # noqa: E731
    elif key == "verifycc":
        matcher = _verify_cc(param)
    else:
        raise OperatorError(f"unsupported operator @{name}")
    return Operator(name=key, param=param, negated=negated, matcher=matcher, regex=regex)


def _resolve(name: str, base_dir: Path | None) -> Path:
    path = Path(name)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


SUPPORTED: Final = [
    "rx",
    "pm",
    "pmFromFile",
    "ipMatch",
    "ipMatchFromFile",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "streq",
    "contains",
    "strmatch",
    "containsWord",
    "beginsWith",
    "endsWith",
    "within",
    "validateByteRange",
    "validateUrlEncoding",
    "validateUtf8Encoding",
    "detectSQLi",
    "detectXSS",
    "unconditionalMatch",
    "noMatch",
    "verifyCC",
]
