"""Image checks over real docker-archive tarballs built by tests/artifact/imagebuilder.py."""

from __future__ import annotations

import hashlib
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.artifact.imagebuilder import (
    WHITEOUT,
    ImageConfig,
    docker_archive,
    raw_tar,
    sha256,
    tar_of_files,
)

from stockade.artifact import open_artifact
from stockade.artifact.memory import MemorySource
from stockade.compliance.image import (
    IMAGE_CHECKS,
    IMAGE_CHECKS_BY_ID,
    ImageCheckError,
    ImageSubject,
    check_image,
    inspect_image,
)
from stockade.compliance.interface import Result, Status, Target

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _config(**runtime: Any) -> dict[str, Any]:
    return {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], **runtime}


def _image(
    tmp_path: Path,
    layers: list[dict[str, Any]] | None = None,
    *,
    runtime: dict[str, Any] | None = None,
    created: str | None = "2025-12-01T00:00:00Z",
    created_by: list[str] | None = None,
) -> Path:
    extra: dict[str, Any] = {"config": runtime if runtime is not None else _config()}
    if created is not None:
        extra["created"] = created
    layers = layers if layers is not None else [{"bin/app": b"app"}]
    return docker_archive(
        tmp_path / "image.tar",
        layers,
        config=ImageConfig(extra=extra, created_by=created_by),
    )


def _run(path: Path, check_id: str, **options: Any) -> list[Result]:
    with open_artifact(str(path)) as source:
        return check_image(source, checks=[IMAGE_CHECKS_BY_ID[check_id]], now=NOW, **options)


def _statuses(results: list[Result]) -> list[Status]:
    return [r.status for r in results]


# --- a docker-archive whose layer tars carry arbitrary modes (setuid bits) ---


def _file(path: str, data: bytes = b"x", mode: int = 0o755) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    return info, data


def _moded_archive(path: Path, layers: list[bytes], runtime: dict[str, Any]) -> Path:
    diff_ids = [sha256(tar) for tar in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"step {i}"} for i in range(len(layers))],
        }
    ).encode()
    files = {f"{hashlib.sha256(config).hexdigest()}.json": config}
    layer_paths = []
    for i, tar in enumerate(layers):
        files[f"layer{i}/layer.tar"] = tar
        layer_paths.append(f"layer{i}/layer.tar")
    files["manifest.json"] = json.dumps(
        [
            {
                "Config": f"{hashlib.sha256(config).hexdigest()}.json",
                "RepoTags": ["example.com/app:1.0"],
                "Layers": layer_paths,
            }
        ]
    ).encode()
    path.write_bytes(tar_of_files(files))
    return path


def test_registry_ids_and_targets() -> None:
    ids = [check.id for check in IMAGE_CHECKS]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids) == 9
    for check in IMAGE_CHECKS:
        assert check.meta.target is Target.IMAGE
        assert check.meta.rationale
        assert check.meta.remediation
        assert "cis" in check.meta.references


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (None, Status.FAILED),
        ("", Status.FAILED),
        ("root", Status.FAILED),
        ("0:0", Status.FAILED),
        ("root:staff", Status.FAILED),
        ("app", Status.PASSED),
        ("1000:1000", Status.PASSED),
    ],
)
def test_non_root_user(tmp_path: Path, user: str | None, expected: Status) -> None:
    runtime = _config() if user is None else _config(User=user)
    results = _run(_image(tmp_path, runtime=runtime), "STK-IMG-001")
    assert _statuses(results) == [expected]
    assert results[0].resource == "example.com/app:1.0"
    if expected is Status.FAILED:
        assert results[0].path == "config.User"


@pytest.mark.parametrize(
    ("healthcheck", "expected"),
    [
        (None, Status.FAILED),
        ({"Test": ["NONE"]}, Status.FAILED),
        ({"Test": []}, Status.FAILED),
        ({"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}, Status.PASSED),
    ],
)
def test_healthcheck(tmp_path: Path, healthcheck: dict[str, Any] | None, expected: Status) -> None:
    runtime = _config() if healthcheck is None else _config(Healthcheck=healthcheck)
    assert _statuses(_run(_image(tmp_path, runtime=runtime), "STK-IMG-002")) == [expected]


def test_secrets_in_env_labels_and_history_are_redacted(tmp_path: Path) -> None:
    secret = "hunter2-very-long-password"  # noqa: S105  # the fake secret the test plants
    runtime = _config(
        Env=[
            "PATH=/usr/bin",
            f"DB_PASSWORD={secret}",
            "API_TOKEN=",  # empty: nothing leaked
            "POSTGRES_PASSWORD_FILE=/run/secrets/pw",  # points at a secret
            "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",  # public fingerprint
        ],
        Labels={"deploy.secret": "s3cr3t", "maintainer": "me"},
    )
    created_by = [
        "/bin/sh -c #(nop) ADD file:abc in / ",
        "RUN |1 GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz /bin/sh -c make # buildkit",
        'RUN /bin/sh -c curl -H "TOKEN=$TOKEN" https://example.com # buildkit',
    ]
    path = _image(
        tmp_path, [{"a": b"1"}, {"b": b"2"}, {"c": b"3"}], runtime=runtime, created_by=created_by
    )
    results = _run(path, "STK-IMG-003")
    failed = [r for r in results if r.status is Status.FAILED]
    assert [r.path for r in failed] == [
        "config.Env[1]",
        "config.Labels.deploy.secret",
        "history[2].created_by",
    ]
    for result in failed:
        assert secret not in result.message
        assert "s3cr3t" not in result.message
        assert "ghp_abcdefghijklmnopqrstuvwxyz" not in result.message
    # history[0] is the builder's empty ENV step; history[2] made the second layer.
    with open_artifact(str(path)) as source:
        assert failed[2].layer == source.info().layers[1].diff_id


def test_no_secrets_passes(tmp_path: Path) -> None:
    assert _statuses(_run(_image(tmp_path), "STK-IMG-003")) == [Status.PASSED]


def test_setuid_and_setgid_respect_whiteouts_and_replacement(tmp_path: Path) -> None:
    base = raw_tar(
        [
            _file("usr/bin/passwd", mode=0o4755),
            _file("usr/bin/wall", mode=0o2755),
            _file("usr/bin/su", mode=0o4755),
            _file("usr/bin/mount", mode=0o4755),
            _file("opt/tool/helper", mode=0o6755),
            _file("usr/bin/plain", mode=0o755),
        ]
    )
    fixup = raw_tar(
        [
            _file("usr/bin/.wh.su", b""),  # deleted
            _file("usr/bin/mount", mode=0o755),  # replaced without the bit
            _file("opt/tool/.wh..wh..opq", b""),  # hides opt/tool/helper
            _file("opt/tool/new", mode=0o4750),  # ...but not what this layer adds
        ]
    )
    path = _moded_archive(tmp_path / "moded.tar", [base, fixup], _config(User="app"))
    results = _run(path, "STK-IMG-004")
    assert {r.path: r.message for r in results} == {
        "/opt/tool/new": "/opt/tool/new is setuid (mode 4750)",
        "/usr/bin/passwd": "/usr/bin/passwd is setuid (mode 4755)",
        "/usr/bin/wall": "/usr/bin/wall is setgid (mode 2755)",
    }
    with open_artifact(str(path)) as source:
        layers = source.info().layers
    by_path = {r.path: r.layer for r in results}
    assert by_path["/usr/bin/passwd"] == layers[0].diff_id
    assert by_path["/opt/tool/new"] == layers[1].diff_id


def test_no_setid_files_passes(tmp_path: Path) -> None:
    assert _statuses(_run(_image(tmp_path), "STK-IMG-004")) == [Status.PASSED]


@pytest.mark.parametrize(
    ("created_by", "expected"),
    [
        ("/bin/sh -c #(nop) ADD https://example.com/app.tgz in /opt/ ", Status.FAILED),
        ("ADD --chown=1:1 http://example.com/x /x # buildkit", Status.FAILED),
        ("ADD --checksum=sha256:abc https://example.com/x /x # buildkit", Status.PASSED),
        ("/bin/sh -c #(nop) ADD file:0123abcd in / ", Status.PASSED),
        ("RUN /bin/sh -c curl https://example.com # buildkit", Status.PASSED),
    ],
)
def test_add_remote_url(tmp_path: Path, created_by: str, expected: Status) -> None:
    results = _run(_image(tmp_path, created_by=[created_by]), "STK-IMG-005")
    assert _statuses(results) == [expected]
    if expected is Status.FAILED:
        assert results[0].path == "history[1].created_by"
        assert results[0].layer is not None


def test_package_caches(tmp_path: Path) -> None:
    layers: list[dict[str, Any]] = [
        {
            "var/lib/apt/lists/lock": b"",
            "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease": b"x",
            "var/cache/apt/archives/curl_8.0_amd64.deb": b"x",
            "var/cache/apk/APKINDEX.abc.tar.gz": b"x",
        },
        {"var/cache/apk/APKINDEX.abc.tar.gz": WHITEOUT},
    ]
    results = _run(_image(tmp_path, layers), "STK-IMG-006")
    assert [(r.status, r.path) for r in results] == [
        (Status.FAILED, "/var/cache/apt/archives"),
        (Status.FAILED, "/var/lib/apt/lists"),
    ]
    assert "curl_8.0_amd64.deb" in results[0].message


def test_clean_package_state_passes(tmp_path: Path) -> None:
    layers: list[dict[str, Any]] = [{"var/lib/apt/lists/lock": b"", "etc/apk/world": b"musl"}]
    assert _statuses(_run(_image(tmp_path, layers), "STK-IMG-006")) == [Status.PASSED]


def test_ssh_server(tmp_path: Path) -> None:
    layers: list[dict[str, Any]] = [
        {"usr/sbin/sshd": b"\x7fELF", "var/lib/dpkg/info/openssh-server.list": b"/usr/sbin/sshd\n"}
    ]
    results = _run(_image(tmp_path, layers), "STK-IMG-007")
    assert [r.path for r in results] == ["/usr/sbin/sshd", "/var/lib/dpkg/info/openssh-server.list"]


def test_ssh_server_removed_in_later_layer_passes(tmp_path: Path) -> None:
    layers: list[dict[str, Any]] = [{"usr/sbin/sshd": b"\x7fELF"}, {"usr/sbin/sshd": WHITEOUT}]
    assert _statuses(_run(_image(tmp_path, layers), "STK-IMG-007")) == [Status.PASSED]


@pytest.mark.parametrize(
    ("created", "max_age", "expected"),
    [
        ("2025-12-01T00:00:00Z", 180, Status.PASSED),
        ("2025-01-01T00:00:00.123456789Z", 180, Status.FAILED),
        ("2025-12-01T00:00:00Z", 7, Status.FAILED),
        ("1970-01-01T00:00:00Z", 180, Status.SKIPPED),
        ("yesterday", 180, Status.SKIPPED),
        (None, 180, Status.SKIPPED),
    ],
)
def test_image_age(tmp_path: Path, created: str | None, max_age: int, expected: Status) -> None:
    path = _image(tmp_path, created=created)
    assert _statuses(_run(path, "STK-IMG-008", max_age_days=max_age)) == [expected]


def test_all_checks_over_one_image(tmp_path: Path) -> None:
    runtime = _config(User="app", Healthcheck={"Test": ["CMD", "true"]})
    with open_artifact(str(_image(tmp_path, runtime=runtime))) as source:
        results = check_image(source, now=NOW)
    assert [r.check.id for r in results] == [c.id for c in IMAGE_CHECKS]
    statuses = {r.check.id: r.status for r in results}
    # Provenance is judged only against a trusted-registry list the user gives.
    assert statuses.pop("STK-IMG-009") is Status.SKIPPED
    assert set(statuses.values()) == {Status.PASSED}


@pytest.mark.parametrize(
    ("trusted", "base", "expected"),
    [
        (["example.com"], None, [Status.PASSED]),
        (["example.com/app"], None, [Status.PASSED]),
        (["registry.corp.example"], None, [Status.FAILED]),
        (["example.com"], "docker.io/library/debian:12", [Status.FAILED]),
        (["example.com", "docker.io/library"], "debian:12", [Status.PASSED]),
    ],
)
def test_trusted_registries_for_the_image_and_its_base(
    tmp_path: Path, trusted: list[str], base: str | None, expected: list[Status]
) -> None:
    labels = {"org.opencontainers.image.base.name": base} if base else {}
    path = _image(tmp_path, runtime=_config(Labels=labels))  # tagged example.com/app:1.0
    results = _run(path, "STK-IMG-009", trusted_registries=trusted)
    statuses = _statuses(results)
    assert sorted(set(statuses)) == sorted(set(expected))
    if Status.FAILED in statuses:
        assert any("not from a trusted registry" in r.message for r in results)


def test_not_an_image_skips_config_checks() -> None:
    source = MemorySource([{"usr/sbin/sshd": b"x"}])
    results = check_image(source, now=NOW)
    by_id = {r.check.id: r.status for r in results}
    assert by_id["STK-IMG-001"] is Status.SKIPPED
    assert by_id["STK-IMG-008"] is Status.SKIPPED
    assert by_id["STK-IMG-007"] is Status.FAILED


def test_malformed_config_fields_do_not_crash() -> None:
    subject = ImageSubject(
        name="odd",
        config={
            "config": {"User": 0, "Env": [1, None], "Labels": [], "Healthcheck": "x"},
            "history": ["x", {"created_by": 3}],
            "created": 5,
        },
        now=NOW,
    )
    results = inspect_image(subject)
    by_id = {r.check.id: r.status for r in results}
    assert by_id["STK-IMG-001"] is Status.FAILED
    assert by_id["STK-IMG-002"] is Status.FAILED
    assert by_id["STK-IMG-003"] is Status.PASSED
    assert by_id["STK-IMG-008"] is Status.SKIPPED


@pytest.mark.parametrize("days", [0, -1])
def test_bad_max_age_is_an_error(days: int) -> None:
    with pytest.raises(ImageCheckError):
        check_image(MemorySource([{}]), max_age_days=days)


def test_naive_now_is_an_error() -> None:
    with pytest.raises(ImageCheckError):
        check_image(MemorySource([{}]), now=datetime(2026, 1, 1))
