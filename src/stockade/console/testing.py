"""Helpers for tests and benchmarks: synthetic but realistic published documents.

Shipped with the package (like ``structlog.testing``) so the benchmark and library
users' tests build the same documents the Console's own tests use.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = ["synthetic_check_document", "synthetic_scan_document"]

_SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "low", "unknown")
_FIX = ("fixed", "fixed", "not-fixed", "wont-fix")


def synthetic_scan_document(
    seed: int,
    *,
    packages: int = 300,
    findings: int = 100,
    vulnerability_pool: int = 5000,
    name: str | None = None,
) -> dict[str, Any]:
    """A ``stockade scan -f json`` document of a Debian image (with its ``packages``).

    Vulnerability ids are drawn from a pool, so many images share them as real fleets do.
    """
    rng = random.Random(seed)  # noqa: S311  # test data, not a secret
    digest = "sha256:" + hashlib.sha256(f"image-{seed}".encode()).hexdigest()
    image = name or f"registry.example/team{seed % 50}/app{seed}:1.{seed % 7}"
    pkgs: list[dict[str, Any]] = [
        {
            "name": f"lib{rng.randrange(100_000)}-{i}",
            "version": f"{rng.randrange(1, 9)}.{rng.randrange(30)}.{rng.randrange(9)}-{i % 4}",
            "type": "deb" if i % 3 else "pypi",
        }
        for i in range(packages)
    ]
    for p in pkgs:
        p["purl"] = f"pkg:{p['type']}/{p['name']}@{p['version']}"
        p["licenses"] = ["MIT"]
    found = []
    for i in range(findings):
        p = pkgs[rng.randrange(len(pkgs))]
        n = rng.randrange(vulnerability_pool)
        severity = _SEVERITIES[n % len(_SEVERITIES)]
        fix = _FIX[(n + i) % len(_FIX)]
        found.append(
            {
                "id": f"CVE-2024-{10000 + n}",
                "aliases": [f"GHSA-{n:04x}-test-{i % 10}"],
                "cve": f"CVE-2024-{10000 + n}",
                "package": {
                    "name": p["name"],
                    "version": p["version"],
                    "type": p["type"],
                    "namespace": "debian" if p["type"] == "deb" else None,
                    "purl": p["purl"],
                },
                "installedVersion": p["version"],
                "fixedVersions": [p["version"] + "+deb12u1"] if fix == "fixed" else [],
                "fixState": fix,
                "severity": severity,
                "cvss": {"score": 7.5, "vector": None},
                "title": f"Synthetic vulnerability {n} in {p['name']}",
                "url": f"https://security.example/CVE-2024-{10000 + n}",
                "source": "synthetic",
                "ecosystem": "Debian:12" if p["type"] == "deb" else "PyPI",
                "matchedName": p["name"],
                "locations": [{"path": "var/lib/dpkg/status", "layer": None}],
                "suppressed": i % 25 == 0,
                "suppression": {"kind": "ignored", "reason": "accepted risk"}
                if i % 25 == 0
                else None,
            }
        )
    return {
        "schemaVersion": 1,
        "artifact": {
            "name": image,
            "type": "docker-archive",
            "digest": digest,
            "repoTags": [image],
            "repoDigests": [],
            "architecture": "amd64",
            "os": "linux",
            "layers": [],
        },
        "os": {
            "family": "debian",
            "version": "12",
            "name": "Debian GNU/Linux",
            "prettyName": "Debian GNU/Linux 12 (bookworm)",
            "codename": "bookworm",
        },
        "advisoriesAge": "2h",
        "summary": {},
        "findings": found,
        "packages": pkgs,
    }


def synthetic_check_document(seed: int, *, results: int = 40) -> dict[str, Any]:
    """A ``stockade check -f json`` document of a Kubernetes manifest."""
    rng = random.Random(seed)  # noqa: S311  # test data, not a secret
    return {
        "schemaVersion": 1,
        "target": f"deploy/app{seed}.yaml",
        "summary": {},
        "results": [
            {
                "check": {
                    "id": f"STK-K8S-{n:03d}",
                    "title": f"Check {n}",
                    "severity": _SEVERITIES[n % len(_SEVERITIES)],
                    "target": "kubernetes",
                },
                "status": "failed" if rng.random() < 0.3 else "passed",
                "resource": f"Deployment/default/app{seed}",
                "file": f"deploy/app{seed}.yaml",
                "line": 10 + n,
                "message": f"check {n} result",
                "suppression": None,
            }
            for n in range(results)
        ],
        "secrets": [],
    }
