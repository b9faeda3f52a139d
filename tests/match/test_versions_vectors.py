"""Agreement with the osv-scalibr ordering vectors, one test per file (see the data README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.match.versions import InvalidVersion, VersionScheme, scheme_for

DATA = Path(__file__).resolve().parent.parent / "data" / "version-compare"

ECOSYSTEM_OF_FILE = {
    "alpine-versions.txt": "Alpine:v3.18",
    "alpine-versions-generated.txt": "Alpine",
    "debian-versions.txt": "Debian:12",
    "debian-versions-generated.txt": "Debian",
    "maven-versions.txt": "Maven",
    "maven-versions-generated.txt": "Maven",
    "nuget-versions.txt": "NuGet",
    "packagist-versions.txt": "Packagist",
    "packagist-versions-generated.txt": "Packagist",
    "pypi-versions.txt": "PyPI",
    "pypi-versions-generated.txt": "PyPI",
    "redhat-versions.txt": "Red Hat",
    "rubygems-versions.txt": "RubyGems",
    "rubygems-versions-generated.txt": "RubyGems",
    "semver-versions.txt": "npm",
}

KNOWN_INCONSISTENT = {
    ("packagist-versions.txt", "1.2.3.# = 1.2.3.1"): (
        "the same file has '1.2.3.# = 1.2.3' and the generated file '1.20 < 1.20.1': "
        "no total order satisfies all three"
    ),
}

EXPECTED = {"<": -1, "=": 0, ">": 1}


def read_vectors(name: str) -> list[tuple[str, str, str]]:
    vectors = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith(("# ", "// ")):
            continue
        left, relation, right = line.split(" ")
        vectors.append((left, relation, right))
    return vectors


def disagreements(scheme: VersionScheme, name: str) -> tuple[int, list[str]]:
    vectors = read_vectors(name)
    failures = []
    for left, relation, right in vectors:
        line = f"{left} {relation} {right}"
        if (name, line) in KNOWN_INCONSISTENT:
            continue
        expected = EXPECTED[relation]
        try:
            forward, backward = scheme.compare(left, right), scheme.compare(right, left)
        except InvalidVersion as exc:
            failures.append(f"{line}: {exc.message}")
            continue
        if (forward, backward) != (expected, -expected):
            failures.append(f"{line}: got {forward} / reversed {backward}")
    return len(vectors), failures


def test_every_vector_file_is_covered() -> None:
    on_disk = {path.name for path in DATA.glob("*-versions*.txt")}
    assert on_disk == set(ECOSYSTEM_OF_FILE)


@pytest.mark.parametrize("name", sorted(ECOSYSTEM_OF_FILE))
def test_vectors_agree_completely(name: str) -> None:
    total, failures = disagreements(scheme_for(ECOSYSTEM_OF_FILE[name]), name)
    assert total > 0
    agreement = 1 - len(failures) / total
    assert not failures, f"{agreement:.2%} of {total} agree; failures:\n" + "\n".join(failures)


@pytest.mark.parametrize("ecosystem", ["Go", "crates.io", "Hex"])
def test_semver_vectors_hold_for_every_semver_ecosystem(ecosystem: str) -> None:
    _, failures = disagreements(scheme_for(ecosystem), "semver-versions.txt")
    assert not failures, "\n".join(failures)


def test_the_excluded_packagist_vector_really_contradicts_the_others() -> None:
    composer = scheme_for("Packagist")
    # what the files say elsewhere, and what follows from them
    assert composer.compare("1.2.3.#", "1.2.3") == 0
    assert composer.compare("1.20", "1.20.1") == -1
    assert composer.compare("1.2.3", "1.2.3.1") == -1
    # so "1.2.3.#" cannot also equal "1.2.3.1"
    assert composer.compare("1.2.3.#", "1.2.3.1") == -1
