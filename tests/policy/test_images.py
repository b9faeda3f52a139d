"""Trusted-registry rules over image references, as the runtime resolves them."""

from __future__ import annotations

import pytest

from stockade.policy.images import image_name, is_trusted


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.27@sha256:" + "a" * 64, "docker.io/library/nginx"),
        ("team/app:2", "docker.io/team/app"),
        ("index.docker.io/library/redis", "docker.io/library/redis"),
        ("registry.example.com:5000/team/app:1.0", "registry.example.com:5000/team/app"),
        ("localhost/app", "localhost/app"),
        ("ghcr.io/org/tool@sha256:" + "b" * 64, "ghcr.io/org/tool"),
    ],
)
def test_references_are_read_in_full_form(reference: str, name: str) -> None:
    assert image_name(reference) == name


def test_prefixes_match_at_path_boundaries() -> None:
    trusted = ["registry.example.com/team", "docker.io/library"]
    assert is_trusted("registry.example.com/team/app:1", trusted)
    assert not is_trusted("registry.example.com/teamx/app:1", trusted)
    assert is_trusted("nginx:1.27", trusted)
    assert not is_trusted("someone/nginx:1.27", trusted)
    assert not is_trusted("evil.example.com/registry.example.com/team/app", trusted)
    assert is_trusted("ghcr.io/org/tool", ["ghcr.io"])
    assert not is_trusted("ghcr.io.evil.com/org/tool", ["ghcr.io"])
    assert not is_trusted("nginx", [])
    assert is_trusted("bitnami/redis", ["bitnami"])  # a Docker Hub namespace
    assert not is_trusted("redis", ["bitnami"])
