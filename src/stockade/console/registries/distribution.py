"""Listing a registry over the OCI distribution API: ``/v2/_catalog`` and
``/v2/<name>/tags/list``, paginated as the distribution spec says (``n`` and the
``Link: <…>; rel="next"`` header).

The HTTP, authentication (anonymous, Basic, the Bearer token flow), retries and error
wording are the registry source's own (:mod:`stockade.artifact.registry`): listing uses
its per-repository session, and images are pulled with :class:`RegistrySource`. Lists
are bounded (entries, pages, bytes) so a hostile registry cannot exhaust the Console.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Final

import httpx

# The registry source's session is the one HTTP client for registries in Stockade:
# listing shares its authentication and retries instead of growing a second client.
from stockade.artifact.registry import (
    ImageReference,
    RegistrySource,
    _Credentials,
    _Session,
    parse_reference,
)
from stockade.console.registries.credentials import RegistryCredentials
from stockade.core.errors import RegistryError, UsageError

__all__ = [
    "MAX_LIST_ENTRIES",
    "Distribution",
    "RegistryAddress",
    "parse_registry_url",
]

PAGE_SIZE: Final = 1000
MAX_LIST_ENTRIES: Final = 10_000
"""Most repositories in a catalog, or tags in a repository, that a scan reads."""
_MAX_PAGES: Final = 200
_MAX_LIST_BYTES: Final = 8 * 1024 * 1024
_JSON: Final = "application/json"
_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class RegistryAddress:
    host: str
    """``host[:port]`` as image references name it (``docker.io`` for Docker Hub)."""
    insecure: bool
    """Plain HTTP (``http://`` URLs): for a local registry only."""


def parse_registry_url(url: str) -> RegistryAddress:
    """``https://host[:port]`` or ``http://host[:port]``; anything else is a UsageError."""
    hint = "a registry URL is https://host[:port] (http:// for a local registry only)"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UsageError(f"invalid registry URL {url[:200]!r}", hint=hint) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"invalid registry URL {url[:200]!r}: not http(s)://host", hint=hint)
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.userinfo:
        raise UsageError(
            f"invalid registry URL {url[:200]!r}: only scheme, host and port are allowed",
            hint=hint + "; credentials go in the credentials field",
        )
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    if parsed.port:
        host += f":{parsed.port}"
    # The reference grammar decides what a registry host is (and maps Docker Hub).
    domain = parse_reference(f"{host}/probe:x").domain
    if domain not in (host, "docker.io"):
        raise UsageError(f"invalid registry URL {url[:200]!r}", hint=hint)
    return RegistryAddress(host=domain, insecure=parsed.scheme == "http")


def valid_repository(name: str) -> bool:
    return len(name) <= 255 and _REPOSITORY.fullmatch(name) is not None


def valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


class Distribution:
    """One registry, with one set of credentials (or none)."""

    def __init__(
        self,
        address: RegistryAddress,
        credentials: RegistryCredentials | None,
        *,
        timeout: float = 60.0,
    ) -> None:
        self.address = address
        self._credentials = credentials
        self._timeout = timeout

    def _session(self, path: str) -> _Session:
        credentials = (
            _Credentials(self._credentials.username, self._credentials.password)
            if self._credentials is not None
            else None
        )
        return _Session(
            reference=ImageReference(domain=self.address.host, path=path),
            display=f"{self.address.host}/{path}",
            insecure=self.address.insecure,
            credentials=credentials,
            timeout=self._timeout,
        )

    def catalog(self) -> list[str]:
        """Every repository the registry's catalog lists (that the credentials may see)."""
        names = self._paged(
            "_catalog",
            f"/v2/_catalog?n={PAGE_SIZE}",
            "repositories",
            f"listing the repositories of {self.address.host}",
            not_found=f"{self.address.host} has no catalog (GET /v2/_catalog answered 404)",
        )
        return [n for n in names if valid_repository(n)]

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository``."""
        tags = self._paged(
            repository,
            f"/v2/{repository}/tags/list?n={PAGE_SIZE}",
            "tags",
            f"listing the tags of {repository}",
            not_found=f"repository not found: {self.address.host}/{repository}",
        )
        return [t for t in tags if valid_tag(t)]

    def source(self, repository: str, tag: str) -> RegistrySource:
        """The image at ``repository:tag``, resolved on first use."""
        credentials = self._credentials
        return RegistrySource(
            f"{self.address.host}/{repository}:{tag}",
            insecure=self.address.insecure,
            username=credentials.username if credentials else None,
            password=credentials.password if credentials else None,
            timeout=self._timeout,
        )

    def _paged(
        self, scope_path: str, first: str, key: str, what: str, *, not_found: str
    ) -> list[str]:
        session = self._session(scope_path)
        items: list[str] = []
        path: str | None = first
        seen: set[str] = set()
        try:
            while path is not None:
                if path in seen or len(seen) >= _MAX_PAGES:
                    raise RegistryError(
                        f"{self.address.host}: more than {_MAX_PAGES} pages, or a page "
                        f"that links back, while {what}"
                    )
                seen.add(path)
                response = session.request(path, what, accept=_JSON)
                with contextlib.closing(response):
                    session.check(response, what, not_found=not_found)
                    body = session.read_capped(response, _MAX_LIST_BYTES, key, what=what)
                    link = response.links.get("next", {}).get("url")
                items.extend(self._entries(body, key, what))
                if len(items) > MAX_LIST_ENTRIES:
                    raise RegistryError(
                        f"{self.address.host}: more than {MAX_LIST_ENTRIES} {key} while {what}",
                        hint="list the repositories to scan, or narrow them with include globs",
                    )
                path = self._next_path(link, what) if link else None
        finally:
            session.close()
        return list(dict.fromkeys(items))

    def _entries(self, body: bytes, key: str, what: str) -> list[str]:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise RegistryError(
                f"{self.address.host}: the answer is not JSON while {what}"
            ) from exc
        values = document.get(key) if isinstance(document, dict) else None
        if values is None and isinstance(document, dict):
            return []  # an empty repository answers "tags": null
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RegistryError(f"{self.address.host}: no list of {key} in the answer while {what}")
        return values

    def _next_path(self, link: str, what: str) -> str:
        """The next page's path and query; only on the registry itself."""
        try:
            url = httpx.URL(link)
        except httpx.InvalidURL as exc:
            raise RegistryError(f"{self.address.host}: a bad next-page link while {what}") from exc
        if url.is_absolute_url:
            expected = httpx.URL(
                f"{'http' if self.address.insecure else 'https'}://{self._api_host()}"
            )
            if (url.scheme, url.host, url.port) != (expected.scheme, expected.host, expected.port):
                raise RegistryError(
                    f"{self.address.host}: the next-page link leads to another server while {what}"
                )
        path = url.raw_path.decode("ascii", "replace")
        if not path.startswith("/v2/"):
            raise RegistryError(f"{self.address.host}: the next-page link is not a /v2/ path")
        return path

    def _api_host(self) -> str:
        return ImageReference(domain=self.address.host, path="x").registry_host
