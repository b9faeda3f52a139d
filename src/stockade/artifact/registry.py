"""Images pulled from a registry over the OCI distribution API (Docker Hub, GHCR, Harbor, …).

Nothing is written to disk: manifests and the image config are read into memory (with
size caps), and each layer blob is streamed from the registry while it is walked, its
digest checked as the bytes go by. The parts:

* **References** (:func:`parse_reference`): the docker reference grammar,
  ``[registry[:port]/]path[:tag][@digest]``; ``alpine`` is ``docker.io/library/alpine:latest``
  and Docker Hub is reached at ``registry-1.docker.io``.
* **Manifests** (:func:`parse_manifest`, :func:`select_manifest`): OCI and Docker v2 image
  manifests and indexes (manifest lists); an index is resolved to one platform, by default
  ``linux/amd64``. Everything fetched by digest is verified against that digest.
* **Authentication** (:class:`_Session`): anonymous first; on ``401`` the registry's
  ``WWW-Authenticate`` challenge decides: the distribution token flow for ``Bearer``
  (a token from the realm, with the user's credentials as Basic auth when given), or Basic
  auth straight to the registry for ``Basic``.

Security model: HTTPS with certificate verification by default; ``insecure=True`` (the
CLI's ``--insecure-registry``) switches to plain HTTP, for local registries only.
Credentials go only to the registry itself and to the token realm it names, never to a
plain-HTTP realm unless the user chose ``insecure``, and never to storage a blob request
is redirected to (httpx drops ``Authorization`` on a redirect to another origin).
Credentials and tokens never appear in error messages or reprs.

Layers are picklable: they carry the registry address, TLS choice, credentials and the
current token as plain data, and make their own HTTP client when a worker opens them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

import httpx

from stockade import __version__
from stockade.artifact.interface import Entry, Limits, Source
from stockade.artifact.tarlayer import BlobLayer, walk_tar
from stockade.core.errors import ArtifactError, RegistryError, UsageError
from stockade.core.models import ArtifactInfo, Digest, LayerInfo

__all__ = [
    "DEFAULT_PLATFORM",
    "Challenge",
    "Descriptor",
    "ImageIndex",
    "ImageManifest",
    "ImageReference",
    "Platform",
    "RegistryLayer",
    "RegistrySource",
    "image_layers",
    "parse_challenges",
    "parse_image_config",
    "parse_manifest",
    "parse_platform",
    "parse_reference",
    "select_manifest",
]

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
_DOCKER_SCHEMA1: Final = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
_MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_IMAGE_CONFIG_TYPES: Final = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
# Without an Accept header a registry may answer with a deprecated schema 1 manifest.
_MANIFEST_ACCEPT: Final = ", ".join(
    (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
)

DOCKER_HUB_DOMAIN: Final = "docker.io"
DOCKER_HUB_REGISTRY: Final = "registry-1.docker.io"
_DOCKER_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG: Final = "latest"

# distribution refuses manifests over 4 MiB; an image config is small JSON, but long
# histories exist, so it gets more room. Both are read into memory, hence the caps.
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024
MAX_CONFIG_BYTES: Final = 16 * 1024 * 1024
_MAX_TOKEN_RESPONSE_BYTES: Final = 1024 * 1024
_MAX_ERROR_BODY_BYTES: Final = 64 * 1024
_MAX_INDEX_DEPTH: Final = 4
_CHUNK_BYTES: Final = 256 * 1024

RETRY_DELAYS: tuple[float, ...] = (0.5, 1.5)
"""Seconds to wait before each retry of a request answered 429 or 5xx."""
_MAX_RETRY_AFTER: Final = 10.0
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

_USER_AGENT: Final = f"stockade/{__version__}"
_CREDENTIALS_HINT: Final = (
    "pass --username and --password (or STOCKADE_REGISTRY_USERNAME / "
    "STOCKADE_REGISTRY_PASSWORD) for a private image"
)


# ---------------------------------------------------------------------------------------
# References


_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")
_DIGEST_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_MAX_NAME_LENGTH: Final = 255
_REFERENCE_HINT: Final = (
    "an image reference looks like registry.example.com:5000/team/app:1.0, "
    "team/app@sha256:<64 hex digits>, or alpine (Docker Hub, tag latest)"
)


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference, normalised: Docker Hub names carry ``library/``."""

    domain: str
    """``docker.io`` for Docker Hub, else the registry as written (``host[:port]``)."""
    path: str
    """The repository path inside the registry: ``library/alpine``, ``team/app``."""
    tag: str | None = None
    digest: Digest | None = None

    @property
    def registry_host(self) -> str:
        """Where the API is served: Docker Hub's API lives on another host than its name."""
        return DOCKER_HUB_REGISTRY if self.domain == DOCKER_HUB_DOMAIN else self.domain

    @property
    def repository(self) -> str:
        """The repository as Docker shows it: ``alpine``, ``team/app``, ``host:5000/x``."""
        if self.domain == DOCKER_HUB_DOMAIN:
            return self.path.removeprefix("library/")
        return f"{self.domain}/{self.path}"

    @property
    def manifest_reference(self) -> str:
        """What to ask the manifests endpoint for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = f"{self.domain}/{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse ``[registry[:port]/]path[:tag][@digest]``; a bad reference is a UsageError."""
    if not text or text != text.strip():
        raise UsageError(f"invalid image reference {text!r}: empty or padded", hint=_REFERENCE_HINT)
    name, at, digest_text = text.partition("@")
    digest: Digest | None = None
    if at:
        if not _DIGEST.fullmatch(digest_text):
            raise UsageError(
                f"invalid image reference {text!r}: {digest_text!r} is not a sha256 or "
                "sha512 digest",
                hint="a digest is sha256: followed by 64 lowercase hex digits",
            )
        digest = Digest(digest_text)
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise UsageError(
                f"invalid image reference {text!r}: bad tag {tag!r}",
                hint="a tag is up to 128 letters, digits, '_', '.' or '-', not starting "
                "with '.' or '-'",
            )
    first, slash, rest = name.partition("/")
    # The first component is a registry when it looks like a host: Docker's own rule.
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
        if not _DOMAIN.fullmatch(domain):
            raise UsageError(
                f"invalid image reference {text!r}: bad registry host {domain!r}",
                hint=_REFERENCE_HINT,
            )
    else:
        domain, path = DOCKER_HUB_DOMAIN, name
    if domain in _DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB_DOMAIN
        if path and "/" not in path:
            path = f"library/{path}"
    components = path.split("/")
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            lower = "" if component == component.lower() else "; repository names are lowercase"
            raise UsageError(
                f"invalid image reference {text!r}: bad repository name component "
                f"{component!r}{lower}",
                hint=_REFERENCE_HINT,
            )
    if len(domain) + 1 + len(path) > _MAX_NAME_LENGTH:
        raise UsageError(
            f"invalid image reference {text[:80]!r}…: the name is longer than "
            f"{_MAX_NAME_LENGTH} characters",
            hint=_REFERENCE_HINT,
        )
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


# ---------------------------------------------------------------------------------------
# Platforms


_ARCH_ALIASES: Final = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386"}
# What an unspecified variant means, as in containerd's platform matching.
_DEFAULT_VARIANTS: Final = {"arm64": "v8", "arm": "v7"}
_PLATFORM_PART = re.compile(r"[a-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @property
    def effective_variant(self) -> str | None:
        return self.variant or _DEFAULT_VARIANTS.get(self.architecture)


DEFAULT_PLATFORM: Final = Platform("linux", "amd64")


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]`` such as ``linux/arm64`` or ``linux/arm/v7``."""
    parts = text.strip().lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(_PLATFORM_PART.fullmatch(p) for p in parts):
        raise UsageError(
            f"invalid platform {text!r}",
            hint="a platform is os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7",
        )
    architecture = _ARCH_ALIASES.get(parts[1], parts[1])
    return Platform(parts[0], architecture, parts[2] if len(parts) == 3 else None)


# ---------------------------------------------------------------------------------------
# Manifests and image configs (pure: bytes in, records out)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content by digest, as manifests and indexes hold them."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class ImageIndex:
    """An OCI image index or a Docker manifest list: one manifest per platform."""

    media_type: str
    manifests: tuple[Descriptor, ...]


def _load_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{what} is not valid JSON ({type(exc).__name__})") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"{what} is not a JSON object")
    return document


def _parse_digest(value: object, what: str) -> Digest:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        shown = value[:80] if isinstance(value, str) else type(value).__name__
        raise ArtifactError(f"{what}: {shown!r} is not a sha256 or sha512 digest")
    return Digest(value)


def _parse_platform_field(value: object, what: str) -> Platform | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArtifactError(f"{what}: platform is not an object")
    os_name, architecture, variant = (
        value.get("os"),
        value.get("architecture"),
        value.get("variant"),
    )
    if not isinstance(os_name, str) or not isinstance(architecture, str):
        raise ArtifactError(f"{what}: platform lacks os or architecture")
    if variant is not None and not isinstance(variant, str):
        raise ArtifactError(f"{what}: platform variant is not a string")
    return Platform(os_name.lower(), architecture.lower(), variant.lower() if variant else None)


def _parse_descriptor(value: object, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ArtifactError(f"{what} is not an object")
    media_type = value.get("mediaType")
    size = value.get("size")
    if not isinstance(media_type, str):
        raise ArtifactError(f"{what} has no mediaType")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ArtifactError(f"{what} has no valid size")
    return Descriptor(
        media_type=media_type,
        digest=_parse_digest(value.get("digest"), what),
        size=size,
        platform=_parse_platform_field(value.get("platform"), what),
    )


def _descriptor_list(value: object, what: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ArtifactError(f"{what} is not a list")
    return tuple(_parse_descriptor(item, f"{what}[{i}]") for i, item in enumerate(value))


def parse_manifest(
    body: bytes, content_type: str | None, *, where: str
) -> ImageManifest | ImageIndex:
    """An image manifest or index from the bytes a registry served.

    The document's own ``mediaType`` wins over the Content-Type header (some registries
    serve ``application/json``); when both are missing the shape decides, as older OCI
    manifests omit the field.
    """
    what = f"{where}: manifest"
    document = _load_json_object(body, what)
    declared = document.get("mediaType")
    header_type = (content_type or "").split(";", 1)[0].strip().lower()
    media_type = declared if isinstance(declared, str) else header_type
    schema = document.get("schemaVersion")
    if media_type in _DOCKER_SCHEMA1 or (schema == 1 and not isinstance(schema, bool)):
        raise ArtifactError(
            f"{what} is a Docker schema 1 manifest, which is deprecated and not supported",
            hint="re-push the image with a current Docker, Buildah or skopeo",
        )
    if schema != 2 or isinstance(schema, bool):
        raise ArtifactError(f"{what} has schemaVersion {schema!r}; only 2 is supported")
    if media_type in _INDEX_TYPES or (
        media_type not in _MANIFEST_TYPES and "manifests" in document
    ):
        return ImageIndex(
            media_type=media_type if media_type in _INDEX_TYPES else OCI_INDEX,
            manifests=_descriptor_list(document.get("manifests"), f"{what} manifests"),
        )
    if media_type in _MANIFEST_TYPES or "config" in document:
        return ImageManifest(
            media_type=media_type if media_type in _MANIFEST_TYPES else OCI_MANIFEST,
            config=_parse_descriptor(document.get("config"), f"{what} config"),
            layers=_descriptor_list(document.get("layers"), f"{what} layers"),
        )
    raise ArtifactError(
        f"{what} has unsupported media type {media_type[:100]!r}",
        hint="Stockade reads OCI and Docker v2 image manifests and indexes",
    )


def _platform_rank(wanted: Platform, candidate: Platform) -> int | None:
    """How well ``candidate`` serves ``wanted``: 0 best, None not at all."""
    if candidate.os != wanted.os:
        return None
    if _ARCH_ALIASES.get(candidate.architecture, candidate.architecture) != wanted.architecture:
        return None
    if wanted.variant is not None:
        return 0 if candidate.effective_variant == wanted.effective_variant else None
    if candidate.effective_variant == wanted.effective_variant:
        return 0
    return 1  # same os/arch, another variant: usable when nothing better is listed


def select_manifest(index: ImageIndex, wanted: Platform, *, where: str) -> Descriptor:
    """The index entry for ``wanted``; the first of the best matches, as Docker picks."""
    best: tuple[int, Descriptor] | None = None
    for descriptor in index.manifests:
        if descriptor.platform is None:
            continue
        if descriptor.media_type not in _MANIFEST_TYPES | _INDEX_TYPES:
            continue
        rank = _platform_rank(wanted, descriptor.platform)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, descriptor)
    if best is None:
        available = sorted(
            {str(d.platform) for d in index.manifests if d.platform and d.platform.os != "unknown"}
        )
        raise ArtifactError(
            f"{where}: the image has no manifest for platform {wanted}",
            hint=f"it is published for: {', '.join(available) or 'no platform at all'}",
        )
    return best[1]


def parse_image_config(body: bytes, *, where: str) -> dict[str, Any]:
    """The image configuration document, checked for the fields Stockade relies on."""
    what = f"{where}: image config"
    config = _load_json_object(body, what)
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise ArtifactError(f"{what} has no rootfs.diff_ids list")
    for i, diff_id in enumerate(rootfs["diff_ids"]):
        _parse_digest(diff_id, f"{what} rootfs.diff_ids[{i}]")
    for key in ("architecture", "os"):
        if key in config and not isinstance(config[key], str):
            raise ArtifactError(f"{what}: {key} is not a string")
    history = config.get("history")
    if history is not None and not isinstance(history, list):
        raise ArtifactError(f"{what}: history is not a list")
    return config


def image_layers(
    manifest: ImageManifest, config: Mapping[str, Any], *, where: str
) -> tuple[LayerInfo, ...]:
    """Layer records joining the manifest (blobs) with the config (diff ids, history)."""
    diff_ids = config["rootfs"]["diff_ids"]
    if len(diff_ids) != len(manifest.layers):
        raise ArtifactError(
            f"{where}: the manifest lists {len(manifest.layers)} layers but the image "
            f"config has {len(diff_ids)} diff ids",
            hint="the image is corrupt; re-push it",
        )
    # Each history entry that is not marked empty made one layer, in order.
    history = [
        step
        for step in config.get("history") or ()
        if isinstance(step, dict) and not step.get("empty_layer")
    ]
    created_by: list[str | None] = [None] * len(diff_ids)
    if len(history) == len(diff_ids):
        created_by = [
            step.get("created_by") if isinstance(step.get("created_by"), str) else None
            for step in history
        ]
    return tuple(
        LayerInfo(
            diff_id=Digest(diff_id),
            digest=blob.digest,
            size=blob.size,
            media_type=blob.media_type,
            created_by=created_by[i],
        )
        for i, (diff_id, blob) in enumerate(zip(diff_ids, manifest.layers, strict=True))
    )


# ---------------------------------------------------------------------------------------
# WWW-Authenticate challenges (RFC 7235)


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    """Lower-cased: ``bearer``, ``basic``."""
    params: Mapping[str, str] = field(default_factory=dict)


_CHALLENGE_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHALLENGE_PARAM = re.compile(
    r"""\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))""", re.DOTALL
)


def parse_challenges(headers: Sequence[str]) -> list[Challenge]:
    """The challenges in ``WWW-Authenticate`` values; what cannot be parsed is skipped."""
    challenges: list[Challenge] = []
    for header in headers:
        position, end = 0, len(header)
        while position < end:
            while position < end and header[position] in " \t,":
                position += 1
            scheme_match = _CHALLENGE_TOKEN.match(header, position)
            if scheme_match is None:
                break  # garbage: keep what was understood so far
            position = scheme_match.end()
            params: dict[str, str] = {}
            while True:
                param = _CHALLENGE_PARAM.match(header, position)
                if param is None:
                    break
                value = param.group(2)
                value = re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL) if value is not None else ""
                params.setdefault(param.group(1).lower(), value or param.group(3) or "")
                position = param.end()
                comma = re.compile(r"\s*,").match(header, position)
                if comma is None:
                    break
                position = comma.end()
            challenges.append(Challenge(scheme_match.group(0).lower(), params))
    return challenges


# ---------------------------------------------------------------------------------------
# HTTP: one session per repository, plain data plus an httpx client made on demand


@dataclass(frozen=True, slots=True)
class _Credentials:
    username: str = field(repr=False)
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class _Authorization:
    """What the session sends now: Basic credentials, or a Bearer token from a realm."""

    scheme: str
    token: str = field(default="", repr=False)


class _Session:
    """Requests to one repository of one registry, with authentication and retries.

    Picklable: the httpx client is not part of its state; a copy made in a worker
    process creates its own on first use.
    """

    def __init__(
        self,
        *,
        reference: ImageReference,
        display: str,
        insecure: bool,
        credentials: _Credentials | None,
        timeout: float,
    ) -> None:
        self.host = reference.registry_host
        self.path = reference.path
        self.display = display
        self.insecure = insecure
        self.credentials = credentials
        self.timeout = timeout
        self.scope = f"repository:{reference.path}:pull"
        self.authorization: _Authorization | None = None
        self._client: httpx.Client | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def detached(self) -> _Session:
        """A copy sharing settings and the current token, with a client of its own."""
        copy = _Session.__new__(_Session)
        copy.__setstate__(self.__getstate__())
        return copy

    @property
    def base_url(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": _USER_AGENT},
                # Blob requests are redirected to object storage; httpx strips
                # Authorization when a redirect leaves the registry's origin.
                follow_redirects=True,
                # trust_env (the default) honours HTTPS_PROXY/NO_PROXY and, for a
                # private CA, SSL_CERT_FILE/SSL_CERT_DIR; httpx reads no ~/.netrc.
            )
        return self._client

    # -- requests ------------------------------------------------------------------------

    def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], what: str, *, params: Any = None
    ) -> httpx.Response:
        where = _host_and_port(url) or self.host
        try:
            request = self._http().build_request(method, url, headers=headers, params=params)
            return self._http().send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise RegistryError(
                self._redact(f"{where}: timed out after {self.timeout:g}s while {what}"),
                hint="the registry is slow or unreachable; try again later",
            ) from exc
        except httpx.ConnectError as exc:
            detail = self._redact(str(exc) or type(exc).__name__)
            hint = "check the registry address and that it is reachable"
            if "ssl" in detail.lower() or "certificate" in detail.lower():
                hint = (
                    "the TLS handshake failed; if this is a local registry speaking plain "
                    "HTTP, pass --insecure-registry"
                )
            raise RegistryError(
                f"{where}: cannot connect while {what}: {detail}", hint=hint
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise RegistryError(f"{where}: too many redirects while {what}") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = self._redact(str(exc) or type(exc).__name__)
            raise RegistryError(f"{where}: request failed while {what}: {detail}") from exc

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        what: str,
        *,
        params: Any = None,
    ) -> httpx.Response:
        """Send, retrying 429 and 5xx answers a few times with growing pauses."""
        delays = iter(RETRY_DELAYS)
        while True:
            response = self._send_once(method, url, headers, what, params=params)
            delay = next(delays, None)
            if response.status_code not in _RETRY_STATUSES or delay is None:
                return response
            pause = max(delay, _retry_after(response))
            response.close()
            time.sleep(pause)

    def request(self, path: str, what: str, *, accept: str | None = None) -> httpx.Response:
        """GET ``path`` on the registry, authenticating when challenged; an open response."""
        headers = {"Accept": accept or "*/*", "Accept-Encoding": "identity"}
        authenticated = False
        while True:
            sent = dict(headers)
            if self.authorization is not None:
                sent["Authorization"] = self._authorization_header(self.authorization)
            response = self._send("GET", self.base_url + path, sent, what)
            if response.status_code != 401 or authenticated:
                return response
            challenges = parse_challenges(response.headers.get_list("www-authenticate"))
            response.close()
            # A first 401, or an expired token: (re)authenticate once, then give up.
            self.authorization = self._authenticate(challenges, what)
            authenticated = True

    def _authorization_header(self, authorization: _Authorization) -> str:
        if authorization.scheme == "basic" and self.credentials is not None:
            return self.credentials.basic_header()
        return f"Bearer {authorization.token}"

    def _authenticate(self, challenges: Sequence[Challenge], what: str) -> _Authorization:
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            return _Authorization("bearer", self._fetch_token(bearer, what))
        if any(c.scheme == "basic" for c in challenges):
            if self.credentials is None:
                raise self.auth_error(what)
            return _Authorization("basic")
        if not challenges:
            raise RegistryError(
                f"{self.host}: answered 401 while {what} without saying how to authenticate",
                hint=_CREDENTIALS_HINT,
            )
        schemes = ", ".join(sorted({c.scheme for c in challenges}))
        raise RegistryError(
            f"{self.host}: asks for {schemes[:60]} authentication, which Stockade does not support",
            hint="Stockade supports the registry token flow (Bearer) and Basic auth",
        )

    def _fetch_token(self, challenge: Challenge, what: str) -> str:
        realm = challenge.params.get("realm", "")
        try:
            realm_url = httpx.URL(realm)
        except httpx.InvalidURL as exc:
            raise RegistryError(f"{self.host}: the token realm is not a valid URL") from exc
        realm_host = _host_and_port(realm)
        if realm_url.scheme not in ("http", "https") or not realm_url.host:
            raise RegistryError(
                f"{self.host}: the token realm {self._redact(realm)[:200]!r} is not an http(s) URL"
            )
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if self.credentials is not None:
            if realm_url.scheme == "http" and not self.insecure:
                raise RegistryError(
                    f"{self.host}: refusing to send credentials to the plain-HTTP token "
                    f"service {realm_host}",
                    hint="only with --insecure-registry, for a local registry you trust",
                )
            headers["Authorization"] = self.credentials.basic_header()
        params: dict[str, str] = {"scope": challenge.params.get("scope") or self.scope}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        response = self._send(
            "GET", str(realm_url), headers, f"{what} (getting a token)", params=params
        )
        with contextlib.closing(response):
            if response.status_code in (401, 403):
                if self.credentials is None:
                    raise self.auth_error(what)
                raise RegistryError(
                    f"{realm_host}: the token service rejected the credentials while {what}",
                    hint="check --username and --password (or STOCKADE_REGISTRY_USERNAME / "
                    "STOCKADE_REGISTRY_PASSWORD)",
                )
            if response.status_code != 200:
                raise RegistryError(
                    f"{realm_host}: the token service answered HTTP {response.status_code} "
                    f"while {what}"
                )
            body = self.read_capped(
                response, _MAX_TOKEN_RESPONSE_BYTES, "the token response", what=what
            )
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise RegistryError(f"{realm_host}: the token response is not JSON") from exc
        token = None
        if isinstance(document, dict):
            token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{realm_host}: the token response carries no token")
        return token

    # -- responses -----------------------------------------------------------------------

    def auth_error(self, what: str) -> RegistryError:
        if self.credentials is None:
            return RegistryError(
                f"{self.host}: authentication required while {what}",
                hint=_CREDENTIALS_HINT + "; some registries also answer this way for an "
                "image that does not exist, so check the name",
            )
        return RegistryError(
            f"{self.host}: authentication denied while {what} (the credentials were "
            "rejected, or they grant no pull access to this repository)",
            hint="check --username and --password (or STOCKADE_REGISTRY_USERNAME / "
            "STOCKADE_REGISTRY_PASSWORD) and the repository name",
        )

    def check(self, response: httpx.Response, what: str, *, not_found: str) -> None:
        """Raise the RegistryError that an unsuccessful status means (closing the response)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = self._error_detail(response)
        response.close()
        if status == 401:
            raise self.auth_error(what)
        if status == 403:
            raise RegistryError(
                f"{self.host}: access denied while {what}{detail}",
                hint="the credentials (or anonymous access) grant no pull access; "
                "check --username/--password and the repository name",
            )
        if status == 404:
            raise RegistryError(
                f"{not_found}{detail}", hint="check the repository name, tag and registry"
            )
        tries = len(RETRY_DELAYS) + 1
        if status == 429:
            raise RegistryError(
                f"{self.host}: too many requests (HTTP 429) while {what}, {tries} tries",
                hint="wait and try again; logged-in pulls usually have a higher rate limit",
            )
        if status >= 500:
            raise RegistryError(
                f"{self.host}: server error HTTP {status} while {what}, {tries} tries{detail}",
                hint="the registry is failing; try again later",
            )
        raise RegistryError(f"{self.host}: HTTP {status} while {what}{detail}")

    def _error_detail(self, response: httpx.Response) -> str:
        """`` (CODE message)`` from a distribution error body, sanitised; else empty."""
        try:
            body = self.read_capped(response, _MAX_ERROR_BODY_BYTES, "error", what="")
            document = json.loads(body)
        except (ArtifactError, ValueError, RecursionError):
            return ""
        errors = document.get("errors") if isinstance(document, dict) else None
        if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
            return ""
        code, message = errors[0].get("code"), errors[0].get("message")
        parts = [p for p in (code, message) if isinstance(p, str) and p]
        text = re.sub(r"[^\x20-\x7e]", "?", " ".join(parts))[:200]
        return f" ({self._redact(text)})" if text else ""

    def read_capped(self, response: httpx.Response, cap: int, name: str, *, what: str) -> bytes:
        """The whole body, refusing more than ``cap`` bytes (checked as they arrive)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ArtifactError(f"{self.display}: {name} is {declared} bytes, over {cap}")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > cap:
                    raise ArtifactError(f"{self.display}: {name} is larger than {cap} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"{self.host}: the connection failed while {what or 'reading'} "
                f"({type(exc).__name__})"
            ) from exc
        return b"".join(chunks)

    def _redact(self, text: str) -> str:
        """Belt and braces: no secret of ours survives in a message."""
        secrets = []
        if self.credentials is not None:
            secrets.append(self.credentials.password)
        if self.authorization is not None and self.authorization.token:
            secrets.append(self.authorization.token)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- the distribution API ------------------------------------------------------------

    def fetch_manifest(self, reference: str, what: str, *, not_found: str) -> tuple[bytes, str]:
        """(body, content type) of the manifest at a tag or digest."""
        response = self.request(
            f"/v2/{self.path}/manifests/{reference}", what, accept=_MANIFEST_ACCEPT
        )
        with contextlib.closing(response):
            self.check(response, what, not_found=not_found)
            body = self.read_capped(response, MAX_MANIFEST_BYTES, "the manifest", what=what)
            return body, response.headers.get("content-type", "")

    def fetch_blob(self, descriptor: Descriptor, cap: int, what: str) -> bytes:
        """A small blob read whole and verified (the image config)."""
        if descriptor.size > cap:
            raise ArtifactError(f"{self.display}: {what}: {descriptor.size} bytes, over {cap}")
        response = self.open_blob(descriptor.digest, what)
        with contextlib.closing(response):
            body = self.read_capped(response, cap, what, what=what)
        verify_digest(body, descriptor.digest, where=f"{self.display}: {what}")
        if len(body) != descriptor.size:
            raise ArtifactError(
                f"{self.display}: {what} is {len(body)} bytes, the manifest says {descriptor.size}",
                hint="the registry served different content than the manifest names",
            )
        return body

    def open_blob(self, digest: Digest, what: str) -> httpx.Response:
        response = self.request(f"/v2/{self.path}/blobs/{digest}", what)
        self.check(
            response,
            what,
            not_found=f"{self.display}: blob {digest} not found in {self.host}/{self.path}",
        )
        return response


def _host_and_port(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return ""
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    if math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _hasher(digest: Digest) -> Any:
    return hashlib.new(digest.split(":", 1)[0])


def verify_digest(content: bytes, expected: Digest, *, where: str) -> None:
    """Raise ArtifactError unless ``content`` hashes to ``expected``."""
    hasher = _hasher(expected)
    hasher.update(content)
    actual = f"{hasher.name}:{hasher.hexdigest()}"
    if actual != expected:
        raise ArtifactError(
            f"{where}: content does not match its digest {expected} (got {actual})",
            hint="the registry, or something between it and you, served corrupted or "
            "tampered content; nothing from it was used",
        )


# ---------------------------------------------------------------------------------------
# Layers: blobs streamed and verified as they are read


class _VerifiedBlobStream(io.RawIOBase):
    """The body of a blob response, hashed as it is read; a mismatch raises at EOF.

    It also refuses to read past the size the manifest gave, so a hostile registry cannot
    feed an endless stream. Closing it closes the response and its HTTP client.
    """

    def __init__(
        self, response: httpx.Response, session: _Session, digest: Digest, size: int, where: str
    ) -> None:
        super().__init__()
        self._response = response
        self._session = session
        self._chunks: Iterator[bytes] = response.iter_bytes(_CHUNK_BYTES)
        self._digest = digest
        self._size = size
        self._where = where
        self._hash = _hasher(digest)
        self._received = 0
        self._pending = memoryview(b"")
        self._failure: ArtifactError | None = None
        self._at_eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._failure is not None:
            raise self._failure
        if not self._pending:
            if self._at_eof:
                return 0
            chunk = self._next_chunk()
            if chunk is None:
                self._at_eof = True
                self._verify()
                return 0
            self._pending = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _next_chunk(self) -> bytes | None:
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return None
            except httpx.HTTPError as exc:
                self._failure = RegistryError(
                    f"{self._where}: the download of blob {self._digest} failed "
                    f"({type(exc).__name__})",
                    hint="the connection broke; try again",
                )
                raise self._failure from exc
            if chunk:
                break
        self._received += len(chunk)
        if self._received > self._size:
            self._failure = ArtifactError(
                f"{self._where}: blob {self._digest} is longer than the {self._size} bytes "
                "its manifest gives",
                hint="the registry served different content than the manifest names",
            )
            raise self._failure
        self._hash.update(chunk)
        return chunk

    def _verify(self) -> None:
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if self._received != self._size or actual != self._digest:
            self._failure = ArtifactError(
                f"{self._where}: blob {self._digest} failed verification: got "
                f"{self._received} bytes hashing to {actual}, expected {self._size} bytes",
                hint="the registry, or something between it and you, served corrupted or "
                "tampered content; results from this layer cannot be trusted",
            )
            raise self._failure

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._session.close()
        super().close()


class RegistryLayer(BlobLayer):
    """One layer blob in a registry; plain data, so it pickles into worker processes."""

    def __init__(self, info: LayerInfo, *, session: _Session, blob: Descriptor, where: str) -> None:
        self.info = info
        self.blob = blob
        self.where = where
        self._session = session.detached()

    @property
    def label(self) -> str:
        return self.where

    def walk(self, limits: Limits) -> Iterator[Entry]:
        # As BlobLayer.walk, and then read the blob to its end: the tar walk may stop
        # at the end-of-archive marker, and the digest is only checked at EOF. Entries
        # are yielded before that check, but the engine keeps a layer's results only
        # once its walk has ended without an error.
        blob = self.open_blob()
        try:
            yield from walk_tar(blob, where=self.label, limits=limits)
            while blob.read(_CHUNK_BYTES):
                pass
        finally:
            blob.close()

    def open_blob(self) -> IO[bytes]:
        session = self._session.detached()
        try:
            response = session.open_blob(self.blob.digest, f"fetching {self.where}")
        except BaseException:
            session.close()
            raise
        raw = _VerifiedBlobStream(response, session, self.blob.digest, self.blob.size, self.where)
        return io.BufferedReader(raw, buffer_size=_CHUNK_BYTES)


# ---------------------------------------------------------------------------------------
# The source


@dataclass(frozen=True, slots=True)
class _Resolved:
    info: ArtifactInfo
    manifest: ImageManifest


class RegistrySource(Source):
    """An image in a registry, resolved on first use (nothing is fetched before).

    ``insecure=True`` speaks plain HTTP (for a local registry only: nothing is then
    protected in transit). ``platform`` (``os/arch[/variant]``, default ``linux/amd64``)
    picks the image out of a multi-platform index.
    """

    def __init__(
        self,
        reference: str,
        *,
        insecure: bool = False,
        username: str | None = None,
        password: str | None = None,
        platform: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name = reference
        self.reference = parse_reference(reference)
        self.platform = parse_platform(platform) if platform is not None else DEFAULT_PLATFORM
        if (username is None) != (password is None):
            raise UsageError(
                "a registry username needs a password, and a password needs a username",
                hint="pass both --username and --password (or the STOCKADE_REGISTRY_* variables)",
            )
        if not timeout > 0:
            raise UsageError(f"the registry timeout must be positive, not {timeout!r}")
        credentials = (
            _Credentials(username, password)
            if username is not None and password is not None
            else None
        )
        self._session = _Session(
            reference=self.reference,
            display=reference,
            insecure=insecure,
            credentials=credentials,
            timeout=timeout,
        )
        self._resolved: _Resolved | None = None

    def __repr__(self) -> str:
        return f"RegistrySource({self.name!r}, platform={str(self.platform)!r})"

    def info(self) -> ArtifactInfo:
        return self._resolve().info

    def layers(self) -> Sequence[RegistryLayer]:
        resolved = self._resolve()
        count = len(resolved.manifest.layers)
        return [
            RegistryLayer(
                info,
                session=self._session,
                blob=blob,
                where=f"{self.name} layer {i}/{count}",
            )
            for i, (info, blob) in enumerate(
                zip(resolved.info.layers, resolved.manifest.layers, strict=True), start=1
            )
        ]

    def close(self) -> None:
        self._session.close()

    def _resolve(self) -> _Resolved:
        if self._resolved is None:
            try:
                self._resolved = self._pull_metadata()
            finally:
                # Layers open connections of their own: hold none between calls, so a
                # caller that never closes the source leaks no socket.
                self._session.close()
        return self._resolved

    def _pull_metadata(self) -> _Resolved:
        reference, name = self.reference, self.name
        body, content_type = self._session.fetch_manifest(
            reference.manifest_reference,
            f"fetching the manifest of {name}",
            not_found=f"image not found: {name}",
        )
        if reference.digest is not None:
            verify_digest(body, reference.digest, where=f"{name}: manifest")
            top_digest = reference.digest
        else:
            top_digest = _digest_of(body)
        document = parse_manifest(body, content_type, where=name)
        for _ in range(_MAX_INDEX_DEPTH):
            if isinstance(document, ImageManifest):
                break
            chosen = select_manifest(document, self.platform, where=name)
            what = f"fetching the {chosen.platform} manifest of {name}"
            body, content_type = self._session.fetch_manifest(
                chosen.digest,
                what,
                not_found=f"{name}: manifest {chosen.digest} for {chosen.platform}, listed in "
                "the index, is missing from the registry",
            )
            verify_digest(body, chosen.digest, where=f"{name}: {chosen.platform} manifest")
            document = parse_manifest(body, content_type, where=f"{name} ({chosen.platform})")
        if not isinstance(document, ImageManifest):
            raise ArtifactError(f"{name}: indexes nested more than {_MAX_INDEX_DEPTH} deep")
        manifest = document
        if manifest.config.media_type not in _IMAGE_CONFIG_TYPES:
            raise ArtifactError(
                f"{name}: not a container image (its config is "
                f"{manifest.config.media_type[:100]!r})",
                hint="this is an OCI artifact such as a Helm chart or a signature",
            )
        config_body = self._session.fetch_blob(
            manifest.config, MAX_CONFIG_BYTES, "the image config"
        )
        config = parse_image_config(config_body, where=name)
        info = ArtifactInfo(
            name=name,
            kind="registry",
            digest=manifest.config.digest,
            repo_digests=(f"{reference.repository}@{top_digest}",),
            layers=image_layers(manifest, config, where=name),
            architecture=config.get("architecture"),
            os=config.get("os"),
            config=config,
        )
        return _Resolved(info=info, manifest=manifest)


def _digest_of(body: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(body).hexdigest())
