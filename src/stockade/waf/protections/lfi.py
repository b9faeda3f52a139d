"""Local file inclusion and path traversal.

Values are decoded as far as a lenient back end would go (``%2e%2e``, ``%252e``,
``%u002e``, overlong UTF-8 ``%c0%ae``, full-width dots and slashes), backslashes read as
slashes, then checked for ``..`` path segments, well-known sensitive files
(``/etc/passwd``, ``/proc/self/environ``, ``win.ini``…), ``file://`` URLs and NUL bytes.
The request path is also checked for files a site should never serve (``/.git/``,
``/.env``, backups, logs, key material).
"""

from __future__ import annotations

import re
from typing import Final

from stockade.waf.decision import Detection
from stockade.waf.protections.interface import VerdictMemo, detection, snippet
from stockade.waf.protections.view import (
    ARG,
    ARG_NAME,
    COOKIE,
    FILE_NAME,
    HEADER,
    PATH,
    XML,
    Input,
    RequestView,
    deep_decode,
)

__all__ = ["FileInclusion"]

KINDS: Final = frozenset({ARG, ARG_NAME, COOKIE, XML, FILE_NAME})
SKIPPED_HEADERS: Final = frozenset({"referer", "host"})
"""A Referer names another page (with its own ``..``, if any); Host is not a path."""

_TRAVERSAL: Final = re.compile(r"(?:^|[/;=\s])\.\.;?(?:/|$)")
_OS_FILES: Final = re.compile(
    r"(?:^|[/\s=:'\"(])(?:etc/(?:passwd|shadow|group|gshadow|master\.passwd|sudoers|hosts|"
    r"issue|crontab|fstab|hostname|motd|profile|bashrc|security/|ssh/|mysql/my\.cnf|"
    r"httpd/|apache2/|nginx/|php\d?/|environment|resolv\.conf|os-release|inittab|"
    r"pam\.d/|systemd/|kubernetes/|subuid|subgid)|proc/(?:self|\d+|thread-self)/|"
    r"proc/(?:version|cpuinfo|meminfo|interrupts|net/|sys/|mounts|modules|kallsyms|"
    r"partitions|config\.gz)|sys/(?:class|kernel|devices|block|fs|module|power|firmware)/?|"
    r"var/log/|var/run/secrets/|var/lib/(?:mysql|docker)|"
    r"root/\.|home/[\w.-]+/\.(?:ssh|bash_history|aws|docker|kube)|"
    r"(?:\.ssh/(?:id_(?:rsa|dsa|ecdsa|ed25519)|authorized_keys|known_hosts))|"
    r"\.(?:bash_history|zsh_history|mysql_history|htpasswd|htaccess|git/config|aws/credentials|"
    r"docker/|kube/config|npmrc|pgpass|netrc)|"
    r"(?:boot|win|system)\.ini|windows/(?:system32|win\.ini|repair|panther)|"
    r"winnt/|inetpub/|web\.config|wp-config\.php|localsettings\.php|"
    r"web-inf/(?:web\.xml|classes/|lib/))"
)
_OS_FILE_NEEDLES: Final = (
    "etc/",
    "proc/",
    "sys/",
    "var/",
    "root/",
    "home/",
    ".ssh",
    "_history",
    ".ht",
    ".git",
    ".aws",
    "docker/",
    "kube/",
    ".npmrc",
    ".pgpass",
    ".netrc",
    ".ini",
    "windows/",
    "winnt/",
    "inetpub/",
    "web.config",
    "wp-config",
    "localsettings",
    "web-inf/",
)
"""Fragments every sensitive-file pattern contains: values with none skip the regex."""
_FILE_URL: Final = re.compile(r"\bfile:/")
_HIDDEN: Final = re.compile(r"/(\.[\w-](?:[\w.-]*[\w-])?)(?=/|$)")
"""A hidden file or directory: a path segment that starts with a dot."""
_RESTRICTED_PATH: Final = re.compile(
    r"\.(?:bak|backup|old|orig|save|swp|swo|tmp|sql|sqlite3?|db|mdb|log|ini|conf|cfg|config|"
    r"pem|key|p12|pfx|jks|keystore|kdbx|env|dist|inc|lock|dump)"
    r"(?:\.(?:zip|gz|tgz|bz2|xz|7z|rar|tar))?$|~$|"
    r"/(?:web\.config|wp-config\.php|composer\.json|package\.json|yarn\.lock|"
    r"docker-compose\.ya?ml|dockerfile|makefile|gemfile(?:\.lock)?|id_rsa(?:\.pub)?|"
    r"phpinfo\.php|server-status|server-info)$"
)
DEFAULT_ALLOWED_HIDDEN: Final = (".well-known",)


def _path_forms(item: Input) -> tuple[str, ...]:
    forms = item.forms()
    out: list[str] = []
    for form in forms:
        text = form.replace("\\", "/") if "\\" in form else form
        if text not in out:
            out.append(text)
    return tuple(out)


class FileInclusion:
    """Detects path traversal, sensitive file names, ``file://`` URLs and NUL bytes."""

    name = "lfi"

    def __init__(self, *, allowed_hidden: tuple[str, ...] = DEFAULT_ALLOWED_HIDDEN) -> None:
        self._memo = VerdictMemo()
        self._path_memo = VerdictMemo()
        self.allowed_hidden = frozenset(name.lower() for name in allowed_hidden)
        """Hidden path segments a site serves on purpose (``.well-known``)."""

    def inspect(self, view: RequestView) -> list[Detection]:
        found: list[Detection] = []
        raw = deep_decode(view.raw_path).replace("\\", "/")
        match = _TRAVERSAL.search(raw) if ".." in raw else None
        if match and match.group(0).endswith("/"):
            found.append(
                detection(
                    self.name,
                    "lfi.traversal",
                    "path traversal in the request path",
                    location="REQUEST_URI",
                    matched=snippet(raw, max(0, match.start() - 20), match.end() + 40),
                )
            )
        for item in view.suspects:
            if item.kind in KINDS or item.kind == PATH:
                hit = (
                    self._path_memo.check(item, self._check)
                    if item.kind == PATH
                    else self._check(item)
                )
                if hit is not None:
                    found.append(hit)
        for item in view.header_inputs:
            if item.kind == HEADER and item.name not in SKIPPED_HEADERS:
                hit = self._memo.check(item, self._check)
                if hit is not None:
                    found.append(hit)
        path = raw.lower()
        if "." in path or "~" in path:
            hidden = next(
                (m for m in _HIDDEN.finditer(path) if m.group(1) not in self.allowed_hidden), None
            )
            match = hidden or _RESTRICTED_PATH.search(path)
            if match:
                found.append(
                    detection(
                        self.name,
                        "lfi.restricted-file",
                        "request for a file a site should not serve",
                        location="REQUEST_FILENAME",
                        matched=snippet(path, max(0, match.start() - 20), match.end() + 20),
                        severity="error",
                    )
                )
        return found

    def _check(self, item: Input) -> Detection | None:
        value = item.value
        if not ("." in value or "/" in value or "%" in value or "\\" in value or "\x00" in value):
            return None
        if "\x00" in value or ("%" in value and "\x00" in item.normalised()):
            return detection(
                self.name,
                "lfi.null-byte",
                "NUL byte in a value (truncates file names in C-based back ends)",
                item,
                matched=snippet(item.normalised().replace("\x00", "\\0")),
            )
        forms = _path_forms(item)
        if item.kind != PATH:
            for form in forms:
                match = _TRAVERSAL.search(form) if ".." in form else None
                if match:
                    return detection(
                        self.name,
                        "lfi.traversal",
                        "path traversal",
                        item,
                        matched=snippet(form, max(0, match.start() - 20), match.end() + 40),
                    )
        for form in forms:
            lowered = form.lower()
            match = None
            for needle in _OS_FILE_NEEDLES:
                if needle in lowered:
                    match = _OS_FILES.search(lowered)
                    break
            if match:
                return detection(
                    self.name,
                    "lfi.os-file",
                    "access to a sensitive operating-system or application file",
                    item,
                    matched=snippet(form, match.start(), match.end() + 20),
                )
            if "file:" in lowered:
                match = _FILE_URL.search(lowered)
                if match:
                    return detection(
                        self.name,
                        "lfi.file-url",
                        "file:// URL",
                        item,
                        matched=snippet(form, match.start()),
                    )
        return None
