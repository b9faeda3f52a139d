"""libinjection's SQLi and XSS detectors, called on the bytes of a value.

The ``libinjection-python`` wrapper takes a ``str``, encodes it as UTF-8 and builds a list
of token dictionaries on every call, which costs more than the detection itself. Its
extension module also exports libinjection's C API (``libinjection_sqli``,
``libinjection_xss``, version 3.9), so this module calls those through :mod:`ctypes` on the
value's own bytes (values are Latin-1 held, one character per byte: what the back end
receives, no re-encoding) and falls back to the wrapper when the symbols are missing.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any, Final

__all__ = ["NATIVE", "sqli_fingerprint", "xss"]


def _load_wrapper() -> Any:
    # A compiled module without type information: loaded by name keeps mypy strict happy.
    return importlib.import_module("libinjection")


_WRAPPER: Final[Any] = _load_wrapper()


def _load_c_api() -> tuple[Any, Any] | None:
    try:
        library = ctypes.CDLL(_WRAPPER.__file__)
        version = library.libinjection_version
        version.restype = ctypes.c_char_p
        if not bytes(version()).startswith(b"3."):
            return None
        sqli = library.libinjection_sqli
        sqli.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        sqli.restype = ctypes.c_int
        xss_function = library.libinjection_xss
        xss_function.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        xss_function.restype = ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return sqli, xss_function


_C_API: Final = _load_c_api()
NATIVE: Final = _C_API is not None
"""Whether the C API is in use (else the Python wrapper)."""
FINGERPRINT_SIZE: Final = 8
"""libinjection writes at most five fingerprint characters and a NUL."""


def sqli_fingerprint(value: str) -> str | None:
    """libinjection's fingerprint when ``value`` is SQL injection, else ``None``."""
    if _C_API is not None:
        data = value.encode("latin-1", "replace")
        # A buffer per call: ctypes releases the GIL during the C call.
        fingerprint = ctypes.create_string_buffer(FINGERPRINT_SIZE)
        if _C_API[0](data, len(data), fingerprint):
            return fingerprint.value.decode("latin-1")
        return None
    result = _WRAPPER.is_sql_injection(value)
    if not result["is_sqli"]:
        return None
    found = result.get("fingerprint", "")
    return found.decode("latin-1") if isinstance(found, bytes) else str(found)


def xss(value: str) -> bool:
    """Whether libinjection reads ``value`` as cross-site scripting."""
    if _C_API is not None:
        data = value.encode("latin-1", "replace")
        return bool(_C_API[1](data, len(data)))
    return bool(_WRAPPER.is_xss(value)["is_xss"])


def wrapper() -> Any:
    """The ``libinjection`` Python module (for comparison in tests)."""
    return _WRAPPER
