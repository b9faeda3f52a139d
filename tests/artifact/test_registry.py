"""The registry source against a real docker-registry on 127.0.0.1, plus its pure parsers.

The slow tests build tiny two-layer images with umoci, push them with skopeo (as Docker
v2 and as OCI manifests, and as multi-platform indexes), and pull them back through
:class:`RegistrySource`: anonymously, with the distribution token flow (a token service
of the test's own, trusted by the registry through its certificate), and with Basic
auth. Faults a real registry cannot be made to show (a tampered blob, 503s, redirects
to storage on another origin) come from a scripted server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.artifact.registry_support import (
    Reply,
    RunningRegistry,
    ScriptedServer,
    TestImage,
    TokenServer,
    bcrypt_htpasswd,
    blob_of,
    build_image,
    free_port,
    manifest_of,
    push,
    put_index,
    silent_socket_server,
    start_registry,
    tools_missing,
)

from stockade.artifact import registry as registry_module
from stockade.artifact.interface import EntryType, Limits, Source
from stockade.artifact.registry import (
    DEFAULT_PLATFORM,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Challenge,
    ImageIndex,
    ImageManifest,
    ImageReference,
    Platform,
    RegistrySource,
    image_layers,
    parse_challenges,
    parse_image_config,
    parse_manifest,
    parse_platform,
    parse_reference,
    select_manifest,
)
from stockade.core.errors import ArtifactError, RegistryError, StockadeError, UsageError

AMD64_PACKAGES = (("hello", "2.10-3"), ("libfoo1", "1.2.3-1"))
ARM64_PACKAGES = (("hello", "2.10-3"), ("libbar2", "4.5-6+b1"))
USER, PASSWORD = "alice", "Pa55-w0rd-never-shown"
WRONG_PASSWORD = "wrong-pw"  # noqa: S105 - a made-up credential for a throwaway registry
SHA = "sha256:" + "ab" * 32


# ---------------------------------------------------------------------------------------
# References


_HUB = "registry-1.docker.io"
_REFERENCE_CASES = {
    # text: (domain, path, tag, digest, registry host, repository as Docker shows it)
    "alpine": ("docker.io", "library/alpine", "latest", None, _HUB, "alpine"),
    "alpine:3.20": ("docker.io", "library/alpine", "3.20", None, _HUB, "alpine"),
    "team/app": ("docker.io", "team/app", "latest", None, _HUB, "team/app"),
    "docker.io/alpine": ("docker.io", "library/alpine", "latest", None, _HUB, "alpine"),
    "index.docker.io/library/alpine:1": ("docker.io", "library/alpine", "1", None, _HUB, "alpine"),
    "localhost/app": ("localhost", "app", "latest", None, "localhost", "localhost/app"),
    "localhost:5000/app:v1": (
        "localhost:5000",
        "app",
        "v1",
        None,
        "localhost:5000",
        "localhost:5000/app",
    ),
    "127.0.0.1:5000/test/name:tag": (
        "127.0.0.1:5000",
        "test/name",
        "tag",
        None,
        "127.0.0.1:5000",
        "127.0.0.1:5000/test/name",
    ),
    "registry.example.com:5000/team/app:1.0": (
        "registry.example.com:5000",
        "team/app",
        "1.0",
        None,
        "registry.example.com:5000",
        "registry.example.com:5000/team/app",
    ),
    f"ghcr.io/org/tool@{SHA}": ("ghcr.io", "org/tool", None, SHA, "ghcr.io", "ghcr.io/org/tool"),
    f"ghcr.io/org/tool:1.2@{SHA}": (
        "ghcr.io",
        "org/tool",
        "1.2",
        SHA,
        "ghcr.io",
        "ghcr.io/org/tool",
    ),
    "[::1]:5000/app": ("[::1]:5000", "app", "latest", None, "[::1]:5000", "[::1]:5000/app"),
    "a.b/c__d/e-f.g_h:T_1.x-y": ("a.b", "c__d/e-f.g_h", "T_1.x-y", None, "a.b", "a.b/c__d/e-f.g_h"),
}


@pytest.mark.parametrize("text", list(_REFERENCE_CASES))
def test_references_follow_the_docker_grammar(text: str) -> None:
    domain, path, tag, digest, host, repository = _REFERENCE_CASES[text]
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.registry_host == host
    assert ref.repository == repository
    assert ref.manifest_reference == (digest or tag)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        " alpine",
        "Alpine",
        "team/App",
        "alpine:",
        "alpine:-bad",
        "alpine@sha256:abc",
        "alpine@md5:" + "a" * 32,
        "alpine@sha256:" + "A" * 64,
        "registry.example.com:5000/",
        "-bad.example/x",
        "a//b",
        "a/b/",
        "x" * 256,
        "app:" + "t" * 129,
    ],
)
def test_bad_references_are_usage_errors_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_reference(text)
    assert caught.value.hint


@given(st.text(max_size=300))
@settings(max_examples=200)
def test_fuzzed_references_only_raise_usage_errors(text: str) -> None:
    try:
        ref = parse_reference(text)
    except UsageError:
        return
    assert parse_reference(str(ref)) == ref


_ALNUM = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


@st.composite
def _valid_references(draw: st.DrawFn) -> str:
    """References the grammar accepts: optional registry, path, optional tag and digest."""
    text = ""
    if draw(st.booleans()):
        text += draw(st.sampled_from(["reg.example.com", "localhost", "127.0.0.1", "[::1]"]))
        if draw(st.booleans()):
            text += f":{draw(st.integers(1, 65535))}"
        text += "/"
    components = []
    for _ in range(draw(st.integers(1, 4))):
        component = draw(_ALNUM)
        for _ in range(draw(st.integers(0, 2))):
            component += draw(st.sampled_from(["_", "__", "-", "--", "."])) + draw(_ALNUM)
        components.append(component)
    if not text and "." in components[0] and len(components) > 1:
        components[0] = components[0].replace(".", "_")  # else it would name a registry
    text += "/".join(components)
    if draw(st.booleans()):
        text += ":" + draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True))
    if draw(st.booleans()):
        text += "@sha256:" + draw(st.binary(min_size=32, max_size=32)).hex()
    return text


_VALID_REFERENCE = _valid_references()


@given(_VALID_REFERENCE)
@settings(max_examples=200)
def test_generated_valid_references_parse_and_round_trip(text: str) -> None:
    ref = parse_reference(text)
    assert ref.tag or ref.digest
    assert parse_reference(str(ref)) == ref


# ---------------------------------------------------------------------------------------
# Platforms, challenges, manifests (pure)


def test_platforms_parse_with_aliases_and_variants() -> None:
    assert parse_platform("linux/amd64") == Platform("linux", "amd64")
    assert parse_platform("Linux/x86_64") == Platform("linux", "amd64")
    assert parse_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert str(parse_platform("linux/aarch64")) == "linux/arm64"
    for bad in ("linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux/am d64"):
        with pytest.raises(UsageError):
            parse_platform(bad)


def test_challenges_parse_docker_hub_style_headers() -> None:
    hub = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert parse_challenges([hub]) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
        )
    ]
    both = parse_challenges(['Basic realm="x y", Bearer realm=http://a/t , error="a\\"b"'])
    assert [c.scheme for c in both] == ["basic", "bearer"]
    assert both[0].params == {"realm": "x y"}
    assert both[1].params == {"realm": "http://a/t", "error": 'a"b'}
    assert parse_challenges(["", "  ,  "]) == []


@given(st.lists(st.text(max_size=200), max_size=3))
@settings(max_examples=200)
def test_fuzzed_challenges_never_raise(headers: list[str]) -> None:
    for challenge in parse_challenges(headers):
        assert challenge.scheme == challenge.scheme.lower()


def _descriptor(media_type: str, content: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
        "size": len(content),
        **extra,
    }


def _index(*platforms: tuple[str, str, str | None]) -> ImageIndex:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            _descriptor(
                OCI_MANIFEST,
                f"{os_name}{arch}{variant}".encode(),
                platform={"os": os_name, "architecture": arch}
                | ({"variant": variant} if variant else {}),
            )
            for os_name, arch, variant in platforms
        ],
    }
    parsed = parse_manifest(json.dumps(document).encode(), None, where="t")
    assert isinstance(parsed, ImageIndex)
    return parsed


def test_index_resolution_picks_the_platform_and_default_variants() -> None:
    index = _index(
        ("unknown", "unknown", None),
        ("linux", "amd64", None),
        ("linux", "arm", "v6"),
        ("linux", "arm", "v7"),
        ("linux", "arm64", "v8"),
    )
    assert select_manifest(index, DEFAULT_PLATFORM, where="t") == index.manifests[1]
    assert select_manifest(index, Platform("linux", "arm"), where="t") == index.manifests[3]
    assert select_manifest(index, Platform("linux", "arm", "v6"), where="t") == index.manifests[2]
    assert select_manifest(index, Platform("linux", "arm64"), where="t") == index.manifests[4]
    assert select_manifest(index, Platform("linux", "arm64", "v8"), where="t") == index.manifests[4]
    with pytest.raises(ArtifactError) as caught:
        select_manifest(index, Platform("windows", "amd64"), where="t")
    assert "linux/amd64" in (caught.value.hint or "")
    assert "unknown" not in (caught.value.hint or "")


def test_manifest_kinds_are_told_apart_by_media_type_header_and_shape() -> None:
    config = _descriptor("application/vnd.oci.image.config.v1+json", b"{}")
    layer = _descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"layer")
    plain = {"schemaVersion": 2, "config": config, "layers": [layer]}
    manifest = parse_manifest(json.dumps(plain).encode(), "application/json", where="t")
    assert isinstance(manifest, ImageManifest)
    assert manifest.media_type == OCI_MANIFEST
    assert manifest.layers[0].digest == layer["digest"]
    docker = parse_manifest(
        json.dumps(plain).encode(), DOCKER_MANIFEST + "; charset=utf-8", where="t"
    )
    assert docker.media_type == DOCKER_MANIFEST
    listing = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": []}
    assert isinstance(parse_manifest(json.dumps(listing).encode(), None, where="t"), ImageIndex)
    schema1 = {"schemaVersion": 1, "name": "x", "fsLayers": []}
    with pytest.raises(ArtifactError, match="schema 1"):
        parse_manifest(json.dumps(schema1).encode(), None, where="t")
    with pytest.raises(ArtifactError, match="unsupported media type"):
        parse_manifest(b'{"schemaVersion": 2, "mediaType": "text/plain"}', None, where="t")
    with pytest.raises(ArtifactError, match="not a sha256"):
        parse_manifest(
            json.dumps({**plain, "layers": [{**layer, "digest": "sha256:zz"}]}).encode(),
            None,
            where="t",
        )


def test_image_layers_join_diff_ids_and_non_empty_history() -> None:
    layers = [
        _descriptor("application/vnd.oci.image.layer.v1.tar+gzip", bytes([i])) for i in (1, 2)
    ]
    manifest = parse_manifest(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": _descriptor("application/vnd.oci.image.config.v1+json", b"{}"),
                "layers": layers,
            }
        ).encode(),
        None,
        where="t",
    )
    assert isinstance(manifest, ImageManifest)
    diff_ids = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    config = parse_image_config(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [
                    {"created_by": "ADD rootfs"},
                    {"created_by": "ENV A=1", "empty_layer": True},
                    {"created_by": "RUN make"},
                ],
            }
        ).encode(),
        where="t",
    )
    infos = image_layers(manifest, config, where="t")
    assert [i.diff_id for i in infos] == diff_ids
    assert [i.digest for i in infos] == [layer["digest"] for layer in layers]
    assert [i.size for i in infos] == [1, 1]
    assert [i.created_by for i in infos] == ["ADD rootfs", "RUN make"]
    short = parse_image_config(
        json.dumps({"rootfs": {"diff_ids": diff_ids[:1]}}).encode(), where="t"
    )
    with pytest.raises(ArtifactError, match="2 layers but the image config has 1"):
        image_layers(manifest, short, where="t")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "schemaVersion",
                    "mediaType",
                    "manifests",
                    "config",
                    "layers",
                    "digest",
                    "size",
                    "platform",
                    "os",
                    "architecture",
                    "variant",
                    "rootfs",
                    "diff_ids",
                    "history",
                    "created_by",
                    "empty_layer",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
_MEDIA_TYPES = st.sampled_from(
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, "application/json", ""]
)
_DIGESTS = st.sampled_from([SHA, "sha256:" + "0" * 64, "sha512:" + "1" * 128, "sha256:x"])


def _shaped_manifest() -> st.SearchStrategy[dict[str, Any]]:
    descriptor = st.fixed_dictionaries(
        {"mediaType": _MEDIA_TYPES, "digest": _DIGESTS, "size": st.integers(-2, 10**6)},
        optional={
            "platform": st.fixed_dictionaries(
                {
                    "os": st.sampled_from(["linux", "windows", 1]),
                    "architecture": st.sampled_from(["amd64", "arm64", "arm"]),
                },
                optional={"variant": st.sampled_from(["v7", "v8", None, 3])},
            )
        },
    )
    return st.fixed_dictionaries(
        {"schemaVersion": st.sampled_from([2, 2, 1, "2", True])},
        optional={
            "mediaType": _MEDIA_TYPES,
            "manifests": st.lists(descriptor, max_size=4) | _JSON,
            "config": descriptor | _JSON,
            "layers": st.lists(descriptor, max_size=4) | _JSON,
        },
    )


@given(
    st.one_of(
        st.binary(max_size=300),
        _JSON.map(lambda doc: json.dumps(doc).encode()),
        _shaped_manifest().map(lambda doc: json.dumps(doc).encode()),
    ),
    st.none() | _MEDIA_TYPES,
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_manifests_only_raise_artifact_errors(body: bytes, content_type: str | None) -> None:
    try:
        document = parse_manifest(body, content_type, where="fuzz")
        if isinstance(document, ImageIndex):
            for platform in (
                DEFAULT_PLATFORM,
                Platform("linux", "arm"),
                Platform("linux", "arm64", "v8"),
            ):
                chosen = select_manifest(document, platform, where="fuzz")
                assert chosen in document.manifests
    except ArtifactError:
        pass


@given(
    st.one_of(
        st.binary(max_size=200),
        _JSON.map(lambda doc: json.dumps(doc).encode()),
        st.fixed_dictionaries(
            {"rootfs": st.fixed_dictionaries({"diff_ids": st.lists(_DIGESTS, max_size=3) | _JSON})},
            optional={
                "history": _JSON | st.lists(_JSON, max_size=4),
                "os": _JSON,
                "architecture": _JSON,
            },
        ).map(lambda doc: json.dumps(doc).encode()),
    ),
    st.integers(0, 3),
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_image_configs_only_raise_artifact_errors(body: bytes, layer_count: int) -> None:
    layer = {"mediaType": "x", "digest": SHA, "size": 1}
    manifest = parse_manifest(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": layer,
                "layers": [layer] * layer_count,
            }
        ).encode(),
        None,
        where="fuzz",
    )
    assert isinstance(manifest, ImageManifest)
    try:
        config = parse_image_config(body, where="fuzz")
        infos = image_layers(manifest, config, where="fuzz")
    except ArtifactError:
        return
    assert len(infos) == layer_count


# ---------------------------------------------------------------------------------------
# The source without a server


def test_source_arguments_are_checked_before_any_request() -> None:
    with pytest.raises(UsageError, match="needs a password"):
        RegistrySource("127.0.0.1:1/x", username=USER)
    with pytest.raises(UsageError, match="needs a username"):
        RegistrySource("127.0.0.1:1/x", password=PASSWORD)
    with pytest.raises(UsageError, match="platform"):
        RegistrySource("127.0.0.1:1/x", platform="amd64")
    with pytest.raises(UsageError, match="timeout"):
        RegistrySource("127.0.0.1:1/x", timeout=0)
    with pytest.raises(UsageError):
        RegistrySource("NOT A REFERENCE")
    source = RegistrySource("127.0.0.1:1/x", username=USER, password=PASSWORD)
    assert PASSWORD not in repr(source)
    assert PASSWORD not in repr(source._session.credentials)


def test_credentials_are_never_sent_to_a_plain_http_token_realm() -> None:
    source = RegistrySource("registry.invalid/x", username=USER, password=PASSWORD)
    challenge = Challenge("bearer", {"realm": "http://127.0.0.1:1/token", "service": "s"})
    with pytest.raises(RegistryError, match="refusing to send credentials") as caught:
        source._session._fetch_token(challenge, "testing")
    assert PASSWORD not in caught.value.diagnostics()


def test_connection_refused_is_a_registry_error() -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    with pytest.raises(RegistryError, match=f"^127.0.0.1:{port}: cannot connect") as caught:
        RegistrySource(f"127.0.0.1:{port}/test/app:1", insecure=True).info()
    assert caught.value.hint


def test_a_registry_that_never_answers_times_out() -> None:
    with silent_socket_server() as host:
        source = RegistrySource(f"{host}/test/app:1", insecure=True, timeout=0.3)
        with pytest.raises(RegistryError, match=r"timed out after 0\.3s"):
            source.info()


# ---------------------------------------------------------------------------------------
# The real registry


@dataclass(frozen=True)
class World:
    registry: RunningRegistry
    storage: Path
    work: Path
    amd64: TestImage
    arm64: TestImage
    app_digest: str
    """Manifest digest of test/app:1.0 (Docker v2, pushed from a docker-archive)."""
    oci_digest: str
    """Manifest digest of test/app-oci:1.0 (an OCI manifest)."""
    oci_index_digest: str
    docker_list_digest: str

    @property
    def host(self) -> str:
        return self.registry.host


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    missing = tools_missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install docker-registry skopeo umoci)")
    work = tmp_path_factory.mktemp("registry")
    amd64 = build_image(
        work / "amd64", architecture="amd64", packages=AMD64_PACKAGES, marker="amd64 app\n"
    )
    arm64 = build_image(
        work / "arm64", architecture="arm64", packages=ARM64_PACKAGES, marker="arm64 app\n"
    )
    storage = work / "storage"
    registry = start_registry(work, storage)
    try:
        host = registry.host
        app_digest = push(amd64, host, "test/app:1.0")
        oci_digest = push(amd64, host, "test/app-oci:1.0", oci=True)
        push(amd64, host, "test/multi:amd64", oci=True)
        push(arm64, host, "test/multi:arm64", oci=True)
        oci_index_digest = put_index(
            host,
            "test/multi",
            "latest",
            [("arm64", "linux/arm64"), ("amd64", "linux/amd64")],
            media_type=OCI_INDEX,
        )
        push(amd64, host, "test/multi-docker:amd64")
        push(arm64, host, "test/multi-docker:arm64")
        docker_list_digest = put_index(
            host,
            "test/multi-docker",
            "latest",
            [("amd64", "linux/amd64"), ("arm64", "linux/arm64")],
            media_type=DOCKER_MANIFEST_LIST,
        )
        yield World(
            registry=registry,
            storage=storage,
            work=work,
            amd64=amd64,
            arm64=arm64,
            app_digest=app_digest,
            oci_digest=oci_digest,
            oci_index_digest=oci_index_digest,
            docker_list_digest=docker_list_digest,
        )
    finally:
        registry.stop()


def _files(source: Source) -> dict[str, bytes]:
    """Every regular file of every layer (later layers win), read while walking."""
    files: dict[str, bytes] = {}
    for layer in source.layers():
        for entry in layer.walk(Limits()):
            if entry.type is EntryType.FILE:
                with entry.open() as stream:
                    files[entry.path] = stream.read()
    return files


def _status_packages(status: bytes) -> set[tuple[str, str]]:
    found = set()
    for stanza in status.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if "Package" in fields:
            found.add((fields["Package"], fields["Version"]))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("repo", "layer_type", "manifest_attr"),
    [
        ("test/app", "application/vnd.docker.image.rootfs.diff.tar.gzip", "app_digest"),
        ("test/app-oci", "application/vnd.oci.image.layer.v1.tar+gzip", "oci_digest"),
    ],
)
def test_pull_by_tag_describes_the_image(
    world: World, repo: str, layer_type: str, manifest_attr: str
) -> None:
    digest, body, _ = manifest_of(world.host, f"{repo}:1.0")
    assert digest == getattr(world, manifest_attr)
    manifest = json.loads(body)
    config = json.loads(blob_of(world.host, repo, manifest["config"]["digest"]))
    with RegistrySource(f"{world.host}/{repo}:1.0", insecure=True) as source:
        info = source.info()
    assert info.kind == "registry"
    assert info.name == f"{world.host}/{repo}:1.0"
    assert info.digest == manifest["config"]["digest"]
    assert info.repo_digests == (f"{world.host}/{repo}@{digest}",)
    assert (info.os, info.architecture) == ("linux", "amd64")
    assert dict(info.config) == config
    assert [layer.diff_id for layer in info.layers] == config["rootfs"]["diff_ids"]
    assert [layer.digest for layer in info.layers] == [x["digest"] for x in manifest["layers"]]
    assert [layer.size for layer in info.layers] == [x["size"] for x in manifest["layers"]]
    assert {layer.media_type for layer in info.layers} == {layer_type}
    assert [layer.created_by for layer in info.layers] == [
        "base: os-release and dpkg status",
        "app: marker",
    ]


@pytest.mark.slow
def test_layers_stream_the_pushed_files(world: World) -> None:
    with RegistrySource(f"{world.host}/test/app:1.0", insecure=True) as source:
        files = _files(source)
    assert files["opt/app/marker.txt"] == b"amd64 app\n"
    assert b"ID=debian" in files["etc/os-release"]
    assert _status_packages(files["var/lib/dpkg/status"]) == set(AMD64_PACKAGES)


@pytest.mark.slow
def test_pull_by_digest_gives_the_same_image(world: World) -> None:
    by_tag = RegistrySource(f"{world.host}/test/app:1.0", insecure=True).info()
    by_digest = RegistrySource(f"{world.host}/test/app@{world.app_digest}", insecure=True).info()
    assert by_digest.digest == by_tag.digest
    assert by_digest.layers == by_tag.layers
    assert by_digest.repo_digests == by_tag.repo_digests


@pytest.mark.slow
def test_layers_pickle_into_other_processes_and_the_engine_inventories_them(world: World) -> None:
    from stockade.inventory import build_inventory, default_catalogers

    catalogers = default_catalogers()
    if "dpkg" not in {c.name for c in catalogers}:
        pytest.skip("the dpkg cataloger is not in this build yet")
    source = RegistrySource(f"{world.host}/test/app:1.0", insecure=True)
    layers = source.layers()
    copies = pickle.loads(pickle.dumps(layers))  # noqa: S301 - our own objects, round-tripped
    assert [c.info for c in copies] == [layer.info for layer in layers]
    # Two layers and two workers: the engine walks each layer in a forked process.
    inventory = build_inventory(source, catalogers, workers=2)
    debs = {(p.name, p.version) for p in inventory.packages if p.type.value == "deb"}
    assert debs == set(AMD64_PACKAGES)
    assert inventory.os is not None
    assert (inventory.os.family, inventory.os.version) == ("debian", "12")
    hello = next(p for p in inventory.packages if p.name == "hello")
    assert hello.purl == "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12"
    assert hello.locations[0].layer == source.info().layers[0].diff_id


_INDEXES = {"test/multi": "oci_index_digest", "test/multi-docker": "docker_list_digest"}
_PLATFORM_CASES = {
    # platform asked: (architecture expected, dpkg packages expected)
    None: ("amd64", AMD64_PACKAGES),
    "linux/amd64": ("amd64", AMD64_PACKAGES),
    "linux/arm64": ("arm64", ARM64_PACKAGES),
    "linux/arm64/v8": ("arm64", ARM64_PACKAGES),
}


@pytest.mark.slow
@pytest.mark.parametrize("repo", list(_INDEXES))
@pytest.mark.parametrize("platform", list(_PLATFORM_CASES))
def test_a_multi_platform_index_resolves_to_the_asked_platform(
    world: World, repo: str, platform: str | None
) -> None:
    arch, packages = _PLATFORM_CASES[platform]
    index_attr = _INDEXES[repo]
    source = RegistrySource(f"{world.host}/{repo}", insecure=True, platform=platform)
    info = source.info()
    assert info.architecture == arch
    assert info.repo_digests == (f"{world.host}/{repo}@{getattr(world, index_attr)}",)
    _, image_manifest, _ = manifest_of(world.host, f"{repo}:{arch}")
    assert info.digest == json.loads(image_manifest)["config"]["digest"]
    files = _files(source)
    assert files["opt/app/marker.txt"] == f"{arch} app\n".encode()
    assert _status_packages(files["var/lib/dpkg/status"]) == set(packages)


@pytest.mark.slow
def test_an_index_without_the_platform_says_which_exist(world: World) -> None:
    source = RegistrySource(f"{world.host}/test/multi", insecure=True, platform="linux/s390x")
    with pytest.raises(ArtifactError, match="no manifest for platform linux/s390x") as caught:
        source.info()
    assert caught.value.hint == "it is published for: linux/amd64, linux/arm64"


@pytest.mark.slow
@pytest.mark.parametrize(
    "reference",
    ["test/app:no-such-tag", "test/nothing-here:1.0", f"test/app@sha256:{'0' * 64}"],
)
def test_a_missing_image_is_a_clean_registry_error(world: World, reference: str) -> None:
    with pytest.raises(RegistryError) as caught:
        RegistrySource(f"{world.host}/{reference}", insecure=True).info()
    assert caught.value.message.startswith(f"image not found: {world.host}/{reference}")
    assert caught.value.hint


@pytest.mark.slow
def test_https_to_a_plain_http_registry_hints_at_insecure(world: World) -> None:
    with pytest.raises(RegistryError, match=f"^{world.host}: cannot connect") as caught:
        RegistrySource(f"{world.host}/test/app:1.0").info()
    assert "--insecure-registry" in (caught.value.hint or "")


@pytest.mark.slow
def test_the_cli_makes_an_sbom_from_a_registry_image(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from stockade.cli.main import main

    code = main(["sbom", f"{world.host}/test/app:1.0", "--insecure-registry", "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert document["artifact"]["type"] == "registry"
    assert document["artifact"]["repoDigests"] == [f"{world.host}/test/app@{world.app_digest}"]
    names = {(p["name"], p["version"]) for p in document["packages"] if p["type"] == "deb"}
    from stockade.inventory import default_catalogers

    if "dpkg" in {c.name for c in default_catalogers()}:
        assert names == set(AMD64_PACKAGES)


@pytest.mark.slow
def test_the_cli_reports_a_missing_image_with_exit_code_2(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from stockade.cli.main import main

    code = main(["sbom", f"{world.host}/test/app:gone", "--insecure-registry", "-f", "json"])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"error: image not found: {world.host}/test/app:gone" in err


# ---------------------------------------------------------------------------------------
# Authentication against the real registry


@pytest.fixture(scope="session")
def token_registry(world: World) -> Iterator[tuple[RunningRegistry, TokenServer]]:
    """The same storage served by a registry that demands tokens from our token service."""
    pytest.importorskip("cryptography", reason="signing test tokens needs cryptography==50.0.2")
    work = world.work / "token"
    work.mkdir()
    tokens = TokenServer(
        work, issuer="test-issuer", service="test-registry", users={USER: PASSWORD}
    ).start()
    registry = start_registry(
        work,
        world.storage,
        auth={
            "token": {
                "realm": tokens.realm,
                "service": "test-registry",
                "issuer": "test-issuer",
                "rootcertbundle": str(tokens.cert_path),
            }
        },
    )
    try:
        yield registry, tokens
    finally:
        registry.stop()
        tokens.stop()


def _assert_secret_free(error: StockadeError) -> None:
    text = f"{error.message} {error.hint} {error.diagnostics()} {error!r}"
    assert PASSWORD not in text
    assert "wrong-" not in text


@pytest.mark.slow
def test_token_auth_anonymous_pull_is_refused_as_auth_required(
    token_registry: tuple[RunningRegistry, TokenServer],
) -> None:
    registry, tokens = token_registry
    with pytest.raises(RegistryError, match="authentication required") as caught:
        RegistrySource(f"{registry.host}/test/app:1.0", insecure=True).info()
    assert "--username" in (caught.value.hint or "")
    # It did follow the token flow: an anonymous token was fetched, for this repository.
    anonymous = [r for r in tokens.requests if not r["authorization"]]
    assert anonymous
    assert anonymous[-1]["query"]["scope"] == ["repository:test/app:pull"]
    assert anonymous[-1]["query"]["service"] == ["test-registry"]


@pytest.mark.slow
def test_token_auth_with_credentials_pulls_and_walks_in_workers(
    world: World, token_registry: tuple[RunningRegistry, TokenServer]
) -> None:
    registry, tokens = token_registry
    source = RegistrySource(
        f"{registry.host}/test/app:1.0", insecure=True, username=USER, password=PASSWORD
    )
    plain = RegistrySource(f"{world.host}/test/app:1.0", insecure=True).info()
    info = source.info()
    assert info.digest == plain.digest
    assert info.layers == plain.layers
    files = _files(source)
    assert files["opt/app/marker.txt"] == b"amd64 app\n"
    assert tokens.requests[-1]["authorization"].startswith("Basic ")

    from stockade.inventory import build_inventory, default_catalogers

    # Forked workers use the token the layers carry.
    inventory = build_inventory(source, default_catalogers(), workers=2)
    assert inventory.artifact.digest == plain.digest


@pytest.mark.slow
def test_token_auth_refreshes_an_expired_token(
    token_registry: tuple[RunningRegistry, TokenServer],
) -> None:
    registry, tokens = token_registry
    source = RegistrySource(
        f"{registry.host}/test/app:1.0", insecure=True, username=USER, password=PASSWORD
    )
    layer = source.layers()[1]
    # A token that expired while the layer waited for a worker: the registry rejects it.
    stale = tokens.issue(
        USER, [{"type": "repository", "name": "test/app", "actions": ["pull"]}], lifetime=-3600
    )
    layer._session.authorization = registry_module._Authorization("bearer", stale)
    before = len(tokens.requests)
    entries = {entry.path for entry in layer.walk(Limits())}
    assert "opt/app/marker.txt" in entries
    assert len(tokens.requests) == before + 1


@pytest.mark.slow
def test_token_auth_accepts_access_token_responses(
    token_registry: tuple[RunningRegistry, TokenServer],
) -> None:
    registry, tokens = token_registry
    tokens.answer_field = "access_token"
    try:
        info = RegistrySource(
            f"{registry.host}/test/app:1.0", insecure=True, username=USER, password=PASSWORD
        ).info()
    finally:
        tokens.answer_field = "token"
    assert info.kind == "registry"


@pytest.mark.slow
@pytest.mark.parametrize("password", ["wrong-password", PASSWORD + "x"])
def test_token_auth_wrong_password_is_denied_without_showing_it(
    token_registry: tuple[RunningRegistry, TokenServer], password: str
) -> None:
    registry, _ = token_registry
    with pytest.raises(RegistryError, match="rejected the credentials") as caught:
        RegistrySource(
            f"{registry.host}/test/app:1.0", insecure=True, username=USER, password=password
        ).info()
    assert "--password" in (caught.value.hint or "")
    _assert_secret_free(caught.value)
    assert password not in caught.value.diagnostics()


@pytest.mark.slow
def test_token_auth_unknown_repository_with_credentials(
    token_registry: tuple[RunningRegistry, TokenServer],
) -> None:
    registry, _ = token_registry
    with pytest.raises(RegistryError, match="image not found") as caught:
        RegistrySource(
            f"{registry.host}/test/none:1", insecure=True, username=USER, password=PASSWORD
        ).info()
    _assert_secret_free(caught.value)


@pytest.fixture(scope="session")
def basic_registry(world: World) -> Iterator[RunningRegistry]:
    line = bcrypt_htpasswd(USER, PASSWORD)
    if line is None:
        pytest.skip("no bcrypt hashing here (the crypt module or libcrypt bcrypt is missing)")
    work = world.work / "basic"
    work.mkdir()
    (work / "htpasswd").write_text(line)
    registry = start_registry(
        work, world.storage, auth={"htpasswd": {"realm": "test", "path": str(work / "htpasswd")}}
    )
    try:
        yield registry
    finally:
        registry.stop()


@pytest.mark.slow
def test_basic_auth_registry(basic_registry: RunningRegistry) -> None:
    reference = f"{basic_registry.host}/test/app:1.0"
    with pytest.raises(RegistryError, match="authentication required"):
        RegistrySource(reference, insecure=True).info()
    with pytest.raises(RegistryError, match="authentication denied") as caught:
        RegistrySource(reference, insecure=True, username=USER, password=WRONG_PASSWORD).info()
    _assert_secret_free(caught.value)
    source = RegistrySource(reference, insecure=True, username=USER, password=PASSWORD)
    assert source.info().architecture == "amd64"
    assert _files(source)["opt/app/marker.txt"] == b"amd64 app\n"


# ---------------------------------------------------------------------------------------
# Faults from a scripted server (what a real registry cannot be made to do)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "RETRY_DELAYS", (0.01, 0.02))


def _mirror(world: World, server: ScriptedServer, repo: str = "test/app") -> dict[str, Any]:
    """Serve test/app:1.0 as the real registry has it; returns its manifest."""
    digest, body, media_type = manifest_of(world.host, f"{repo}:1.0")
    manifest: dict[str, Any] = json.loads(body)
    headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
    for reference in ("1.0", digest):
        server.routes[f"/v2/{repo}/manifests/{reference}"] = [Reply(200, body, headers)]
    for blob in [manifest["config"], *manifest["layers"]]:
        server.routes[f"/v2/{repo}/blobs/{blob['digest']}"] = [
            Reply(200, blob_of(world.host, repo, blob["digest"]))
        ]
    return manifest


@pytest.mark.slow
def test_a_tampered_layer_is_detected_while_walking(world: World, scripted: ScriptedServer) -> None:
    manifest = _mirror(world, scripted)
    first, second = (layer["digest"] for layer in manifest["layers"])
    # Layer 1's address serves layer 2: a valid gzip tar, just not the one asked for.
    scripted.routes[f"/v2/test/app/blobs/{first}"] = [
        Reply(200, blob_of(world.host, "test/app", second))
    ]
    source = RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True)
    with pytest.raises(ArtifactError, match=f"blob {first}"):
        list(source.layers()[0].walk(Limits()))


@pytest.mark.slow
def test_a_flipped_byte_fails_verification_at_eof(world: World, scripted: ScriptedServer) -> None:
    manifest = _mirror(world, scripted)
    first = manifest["layers"][0]["digest"]
    genuine = blob_of(world.host, "test/app", first)
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 0xFF])
    scripted.routes[f"/v2/test/app/blobs/{first}"] = [Reply(200, tampered)]
    layer = RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).layers()[0]
    stream = layer.open_blob()
    try:
        assert stream.read(len(genuine) - 1) == genuine[:-1]  # served as it comes
        with pytest.raises(ArtifactError, match="failed verification"):
            stream.read()
    finally:
        stream.close()
    # The same bytes untampered pass.
    scripted.routes[f"/v2/test/app/blobs/{first}"] = [Reply(200, genuine)]
    with layer.open_blob() as good:
        assert good.read() == genuine


def _tar_with_padding(files: dict[str, bytes], padding: int) -> bytes:
    """A plain tar layer followed by zero padding (which tar readers stop before)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue() + b"\0" * padding


def _serve_one_layer_image(server: ScriptedServer, declared: bytes, served: bytes) -> None:
    """test/pad:1 with one layer whose manifest names ``declared`` and which serves ``served``."""
    digest = "sha256:" + hashlib.sha256(declared).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest]}}
    ).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", declared)],
    }
    server.routes["/v2/test/pad/manifests/1"] = [Reply(200, json.dumps(manifest).encode())]
    server.routes[f"/v2/test/pad/blobs/{manifest['config']['digest']}"] = [Reply(200, config)]
    server.routes[f"/v2/test/pad/blobs/{digest}"] = [Reply(200, served)]


def test_tampering_after_the_end_of_the_tar_is_still_detected(scripted: ScriptedServer) -> None:
    # Tar readers stop at the end-of-archive marker; bytes after it are still part of
    # the blob its digest covers, so the walk reads them before it may end cleanly.
    genuine = _tar_with_padding({"etc/hello": b"hi\n"}, padding=3 * 1024 * 1024)
    tampered = genuine[:-1] + b"\1"
    _serve_one_layer_image(scripted, genuine, genuine)
    [layer] = RegistrySource(f"{scripted.host}/test/pad:1", insecure=True).layers()
    assert [e.path for e in layer.walk(Limits())] == ["etc/hello"]
    _serve_one_layer_image(scripted, genuine, tampered)
    [layer] = RegistrySource(f"{scripted.host}/test/pad:1", insecure=True).layers()
    with pytest.raises(ArtifactError, match="failed verification"):
        list(layer.walk(Limits()))


@pytest.mark.slow
def test_a_blob_longer_than_its_descriptor_is_cut_off(
    world: World, scripted: ScriptedServer
) -> None:
    manifest = _mirror(world, scripted)
    first = manifest["layers"][0]["digest"]
    padded = blob_of(world.host, "test/app", first) + b"\0" * 100_000
    scripted.routes[f"/v2/test/app/blobs/{first}"] = [Reply(200, padded)]
    layer = RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).layers()[0]
    with layer.open_blob() as stream, pytest.raises(ArtifactError, match="longer than"):
        stream.read()


@pytest.mark.slow
def test_a_manifest_not_matching_the_pinned_digest_is_refused(
    world: World, scripted: ScriptedServer
) -> None:
    _mirror(world, scripted)
    _, body, media_type = manifest_of(world.host, "test/app-oci:1.0")  # another manifest
    scripted.routes[f"/v2/test/app/manifests/{world.app_digest}"] = [
        Reply(200, body, {"Content-Type": media_type})
    ]
    source = RegistrySource(f"{scripted.host}/test/app@{world.app_digest}", insecure=True)
    with pytest.raises(ArtifactError, match="does not match its digest"):
        source.info()


@pytest.mark.slow
def test_a_tampered_config_is_refused(world: World, scripted: ScriptedServer) -> None:
    manifest = _mirror(world, scripted)
    config = manifest["config"]["digest"]
    real = blob_of(world.host, "test/app", config)
    scripted.routes[f"/v2/test/app/blobs/{config}"] = [Reply(200, real.replace(b"amd64", b"arm64"))]
    with pytest.raises(ArtifactError, match="does not match its digest"):
        RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info()


@pytest.mark.slow
@pytest.mark.usefixtures("fast_retries")
def test_server_errors_are_retried_then_reported(world: World, scripted: ScriptedServer) -> None:
    _mirror(world, scripted)
    path = "/v2/test/app/manifests/1.0"
    good = scripted.routes[path]
    assert isinstance(good, list)
    scripted.routes[path] = [Reply(503), Reply(429, headers={"Retry-After": "0"}), good[0]]
    assert RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info().layers
    assert scripted.hits(path) == 3

    scripted.routes[path] = [Reply(502, b'{"errors":[{"code":"X","message":"down"}]}')]
    with pytest.raises(RegistryError, match=r"server error HTTP 502 .*3 tries \(X down\)"):
        RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info()
    assert scripted.hits(path) == 6
    scripted.routes[path] = [Reply(429)]
    with pytest.raises(RegistryError, match="too many requests"):
        RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info()


@pytest.mark.slow
def test_blob_redirects_are_followed_without_leaking_credentials(
    world: World, scripted: ScriptedServer
) -> None:
    manifest = _mirror(world, scripted)
    storage = ScriptedServer().start()
    try:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        def guarded(route: list[Reply] | Any) -> Any:
            def reply(handler: Any) -> Reply:
                if handler.headers.get("Authorization") != expected:
                    return Reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="scripted"'})
                return route[0]

            return reply

        for path, route in list(scripted.routes.items()):
            scripted.routes[path] = guarded(route)
        for layer in manifest["layers"]:
            blob_path = f"/v2/test/app/blobs/{layer['digest']}"
            storage.routes[f"/storage/{layer['digest']}"] = [
                Reply(200, blob_of(world.host, "test/app", layer["digest"]))
            ]
            location = f"http://{storage.host}/storage/{layer['digest']}"
            scripted.routes[blob_path] = guarded([Reply(307, b"", {"Location": location})])
        source = RegistrySource(
            f"{scripted.host}/test/app:1.0", insecure=True, username=USER, password=PASSWORD
        )
        assert _files(source)["opt/app/marker.txt"] == b"amd64 app\n"
        assert len(storage.requests) == 2
        assert all("authorization" not in headers for _, headers in storage.requests)
    finally:
        storage.stop()


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (Reply(200, b"x" * (5 * 1024 * 1024)), ArtifactError, "over 4194304"),
        (Reply(200, b'{"schemaVersion": 1, "fsLayers": []}'), ArtifactError, "schema 1"),
        (Reply(200, b"<html>"), ArtifactError, "not valid JSON"),
        (Reply(401, b"{}", {"WWW-Authenticate": "Negotiate"}), RegistryError, "negotiate"),
        (Reply(401, b"{}"), RegistryError, "without saying how"),
        (
            Reply(401, b"{}", {"WWW-Authenticate": 'Bearer realm="ftp://x/token"'}),
            RegistryError,
            "not an http",
        ),
        (Reply(403, b"{}"), RegistryError, "access denied"),
        (Reply(418, b"{}"), RegistryError, "HTTP 418"),
    ],
)
def test_bad_manifest_answers_are_clean_errors(
    scripted: ScriptedServer, reply: Reply, error: type[StockadeError], match: str
) -> None:
    scripted.routes["/v2/test/app/manifests/1.0"] = [reply]
    with pytest.raises(error, match=match):
        RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info()


def test_a_bearer_realm_that_is_down_is_a_registry_error(scripted: ScriptedServer) -> None:
    realm_host = f"127.0.0.1:{free_port()}"
    realm = f"http://{realm_host}/token"
    scripted.routes["/v2/test/app/manifests/1.0"] = [
        Reply(401, b"{}", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
    ]
    with pytest.raises(RegistryError, match=f"^{realm_host}: cannot connect"):
        RegistrySource(f"{scripted.host}/test/app:1.0", insecure=True).info()


def test_an_oci_artifact_that_is_not_an_image_is_refused(scripted: ScriptedServer) -> None:
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor("application/vnd.cncf.helm.config.v1+json", config),
        "layers": [],
    }
    scripted.routes["/v2/test/chart/manifests/1.0"] = [Reply(200, json.dumps(manifest).encode())]
    with pytest.raises(ArtifactError, match="not a container image") as caught:
        RegistrySource(f"{scripted.host}/test/chart:1.0", insecure=True).info()
    assert "Helm" in (caught.value.hint or "")


def test_image_reference_str_is_the_normalised_name() -> None:
    assert str(ImageReference("docker.io", "library/alpine", "3")) == "docker.io/library/alpine:3"
    assert httpx.URL(f"http://{parse_reference('[::1]:5000/x').registry_host}/v2/").port == 5000
