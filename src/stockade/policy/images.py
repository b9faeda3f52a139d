"""Image provenance rules: which registries an image may come from (pure).

References are compared in their full form, as the container runtime resolves them:
``nginx`` is ``docker.io/library/nginx``, ``team/app`` is ``docker.io/team/app``. A trusted
prefix is written the same way and matches at a path boundary: ``registry.example.com/team``
trusts ``registry.example.com/team/app`` but not ``registry.example.com/teamx/app``;
``docker.io/library`` trusts Docker Hub's official images.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

DOCKER_HUB: Final = "docker.io"
_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _split(reference: str) -> tuple[str, str | None, str | None]:
    name, _, digest = reference.strip().partition("@")
    tag: str | None = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a colon before the last slash is a registry port, not a tag
        name, tag = name.rsplit(":", 1)
    return name, tag or None, digest or None


def image_name(reference: str) -> str:
    """The repository of ``reference`` in full form, without tag or digest."""
    return _qualify(_split(reference)[0])


def normalise_reference(reference: str) -> str:
    """``reference`` as the runtime resolves it: ``nginx`` → ``docker.io/library/nginx:latest``.

    The tag (``latest`` when neither tag nor digest is given) and the digest are kept.
    """
    name, tag, digest = _split(reference)
    if tag is None and digest is None:
        tag = "latest"
    return _qualify(name) + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def has_digest(reference: str) -> bool:
    """Whether ``reference`` pins a digest (``…@sha256:…``)."""
    return _split(reference)[2] is not None


def _qualify(name: str, *, official: bool = True) -> str:
    first, slash, rest = name.partition("/")
    # The first part names a registry when it looks like a host: a dot, a port, localhost.
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry = DOCKER_HUB if first.lower() in _HUB_ALIASES else first.lower()
        path = rest
    else:
        registry, path = DOCKER_HUB, name
    if official and registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


def trusted_prefix(prefix: str) -> str:
    """A user's trusted-registry entry in full form (``docker.io`` stays a registry)."""
    cleaned = prefix.strip().rstrip("/")
    if "/" not in cleaned and ("." in cleaned or ":" in cleaned or cleaned == "localhost"):
        return DOCKER_HUB if cleaned.lower() in _HUB_ALIASES else cleaned.lower()
    # ``docker.io/library`` is a namespace, not the official image ``library``.
    return _qualify(cleaned, official=False)


def is_trusted(reference: str, prefixes: Iterable[str]) -> bool:
    """Whether ``reference`` comes from one of the trusted ``prefixes``."""
    name = image_name(reference)
    for prefix in prefixes:
        wanted = trusted_prefix(prefix)
        if name == wanted or name.startswith(f"{wanted}/"):
            return True
    return False
