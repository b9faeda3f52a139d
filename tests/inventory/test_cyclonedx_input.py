"""Reading a CycloneDX SBOM back as an inventory, to scan it without the image."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from stockade.artifact.memory import MemorySource
from stockade.core.errors import ArtifactError
from stockade.core.models import OSInfo, PackageType
from stockade.inventory import build_inventory, default_catalogers
from stockade.inventory.cyclonedx_input import looks_like_cyclonedx, read_cyclonedx
from stockade.report.cyclonedx import CycloneDXRenderer

DATA = Path(__file__).resolve().parent.parent / "data"
TRIVY_NPM_BOM = DATA / "trivy" / "e2e" / "golden" / "npm-cyclonedx.json.golden"

STATUS = """\
Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+b1

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9
"""


def test_our_own_sbom_reads_back_as_the_same_packages(tmp_path: Path) -> None:
    source = MemorySource(
        [
            {
                "etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
                "var/lib/dpkg/status": STATUS,
                "app/node_modules/@babel/core/package.json": json.dumps(
                    {"name": "@babel/core", "version": "7.22.5"}
                ),
            }
        ]
    )
    inventory = build_inventory(source, default_catalogers(), workers=1)
    out = io.StringIO()
    CycloneDXRenderer().render(inventory, out)
    bom = tmp_path / "sbom.cdx.json"
    bom.write_text(out.getvalue())

    assert looks_like_cyclonedx(bom)
    again = read_cyclonedx(bom)
    assert again.os == OSInfo("debian", "12")

    def identity(p: object) -> tuple[object, ...]:
        return (p.type, p.name, p.version, p.purl, p.source_name, p.arch)  # type: ignore[attr-defined]

    assert sorted(map(identity, again.packages)) == sorted(map(identity, inventory.packages))
    bsdutils = next(p for p in again.packages if p.name == "bsdutils")
    assert (bsdutils.source_name, bsdutils.source_version) == ("util-linux", "2.38.1-5")


def test_a_trivy_sbom_is_read_by_its_purls() -> None:
    inventory = read_cyclonedx(TRIVY_NPM_BOM)
    names = {(p.name, p.version) for p in inventory.packages}
    assert ("asap", "2.0.6") in names
    assert all(p.type is PackageType.NPM for p in inventory.packages)
    assert inventory.artifact.kind == "cyclonedx"
    document = json.loads(TRIVY_NPM_BOM.read_text())
    purls = {c["purl"] for c in document["components"] if "purl" in c}
    assert {p.purl for p in inventory.packages} == purls


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"bomFormat": "SPDX"}', "not a CycloneDX BOM"),
        (b"[1, 2]", "not a CycloneDX BOM"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_a_broken_sbom_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=message):
        read_cyclonedx(path)


def test_components_without_usable_purls_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "components": [
                    {"type": "library", "name": "no-purl"},
                    {"type": "library", "name": "x", "purl": "not a purl"},
                    {"type": "library", "name": "y", "purl": "pkg:unknown/y@1"},
                    {"type": "library", "name": "z", "purl": "pkg:pypi/z"},
                    {"type": "library", "name": "ok", "purl": "pkg:pypi/ok@1.0"},
                ],
            }
        )
    )
    assert [p.name for p in read_cyclonedx(path).packages] == ["ok"]
