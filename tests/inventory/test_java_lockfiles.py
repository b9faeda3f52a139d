"""Gradle lock files and Maven pom.xml, against Trivy's fixtures and end-to-end repos."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.java import JavaCataloger
from stockade.inventory.java.gradle import parse_gradle_lockfile
from stockade.inventory.java.pom import parse_pom, pom_licenses

TRIVY = Path(__file__).parent.parent / "data" / "trivy"
GRADLE = TRIVY / "lockfiles" / "gradle"
FS = CatalogContext(ScanMode.FILESYSTEM)


def parse(path: Path) -> list[Package]:
    data = path.read_bytes()
    file = FileContent(path.name, len(data), io.BytesIO(data), 1 << 20)
    return list(JavaCataloger().parse(file, FS).packages)


def gav_dev(packages: list[Package]) -> set[tuple[str, str, bool]]:
    """Trivy's view: name ``group:artifact``, version, dev."""
    return {(f"{p.namespace}:{p.name}", p.version, p.dev) for p in packages}


# Expected packages from aquasecurity/trivy pkg/dependency/parser/gradle/lockfile.
# parse_test.go (stored revision 01fa177d) lists cglib:cglib-nodep 2.1.2,
# org.springframework:spring-asm 3.1.3.RELEASE and org.springframework:spring-beans
# 5.0.5.RELEASE on lines 4, 5 and 6: that revision predates the junit line the fixture
# now has on line 5. parse.go (revision 0273cafc) reports every line and marks a module
# Dev when all its configurations start with "test", so junit:junit 4.13.2
# (testCompileClasspath, testRuntimeClasspath) is the fourth package, dev.
GRADLE_HAPPY = {
    ("cglib:cglib-nodep", "2.1.2", False),  # testRuntimeClasspath,classpath: not test-only
    ("junit:junit", "4.13.2", True),
    ("org.springframework:spring-asm", "3.1.3.RELEASE", False),  # indented line
    ("org.springframework:spring-beans", "5.0.5.RELEASE", False),
}


def test_gradle_happy_fixture() -> None:
    packages = parse(GRADLE / "happy.lockfile")
    assert gav_dev(packages) == GRADLE_HAPPY
    assert len(packages) == len(GRADLE_HAPPY)  # the commented-out io.grpc line is not one
    assert all(p.cataloger == "java" for p in packages)


def test_gradle_empty_fixture() -> None:
    # parse_test.go: "empty" wants nil.
    assert parse(GRADLE / "empty.lockfile") == []


def test_gradle_e2e_repo_gives_the_vulnerable_package_of_the_golden_report() -> None:
    # integration/testdata/gradle.json.golden: the only package with findings is
    # com.fasterxml.jackson.core:jackson-databind 2.9.1 in gradle.lockfile.
    with DirectorySource(str(TRIVY / "e2e" / "repo" / "gradle")) as source:
        inventory = build_inventory(source, [JavaCataloger()], ctx=FS, workers=1)
    assert [(p.purl, p.dev, p.locations[0].path) for p in inventory.packages] == [
        (
            "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1",
            False,
            "gradle.lockfile",
        )
    ]


def test_gradle_malformed_line_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="line 2: expected group:artifact:version"):
        parse_gradle_lockfile("# header\ncom.acme:widget=compileClasspath\n", cataloger="java")


def test_gradle_module_in_test_and_main_configurations_is_not_dev() -> None:
    text = "g:a:1=testRuntimeClasspath\ng:a:1=runtimeClasspath\ng:b:2=testCompileClasspath\n"
    assert gav_dev(parse_gradle_lockfile(text, cataloger="java")) == {
        ("g:a", "1", False),
        ("g:b", "2", True),
    }


# --- pom.xml ------------------------------------------------------------------------


def test_pom_e2e_repo_declared_dependencies() -> None:
    """integration/testdata/pom.json.golden: jackson-databind 2.9.1 is the vulnerable one.

    Trivy resolves the whole tree through Maven Central; offline we list what the pom
    declares with versions it settles itself (junit.version is one of its properties).
    """
    with DirectorySource(str(TRIVY / "e2e" / "repo" / "pom")) as source:
        inventory = build_inventory(source, [JavaCataloger()], ctx=FS, workers=1)
    assert {(p.purl, p.dev) for p in inventory.packages} == {
        ("pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1", False),
        ("pkg:maven/javax.servlet/javax.servlet-api@4.0.1", False),  # provided scope
        ("pkg:maven/org.junit.jupiter/junit-jupiter-api@5.7.1", True),  # test scope
        ("pkg:maven/org.junit.jupiter/junit-jupiter-engine@5.7.1", True),
    }


POM_WITH_PROPERTIES = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- a comment -->
  <parent><groupId>org.acme</groupId><artifactId>parent</artifactId><version>7</version></parent>
  <artifactId>app</artifactId>
  <properties><lib.version>${project.version}.1</lib.version><loop>${loop}</loop></properties>
  <dependencies>
    <dependency><groupId>${project.groupId}</groupId><artifactId>lib</artifactId>
      <version>${lib.version}</version></dependency>
    <dependency><groupId>org.acme</groupId><artifactId>managed</artifactId></dependency>
    <dependency><groupId>org.acme</groupId><artifactId>ranged</artifactId>
      <version>[1.0,2.0)</version></dependency>
    <dependency><groupId>org.acme</groupId><artifactId>unknown</artifactId>
      <version>${not.here}</version></dependency>
    <dependency><groupId>org.acme</groupId><artifactId>looping</artifactId>
      <version>${loop}</version></dependency>
  </dependencies>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.acme</groupId><artifactId>bom-only</artifactId>
      <version>1</version></dependency>
  </dependencies></dependencyManagement>
</project>"""


def test_pom_resolves_its_own_properties_and_skips_what_it_cannot_settle() -> None:
    packages = parse_pom(POM_WITH_PROPERTIES, cataloger="java")
    assert [(p.namespace, p.name, p.version) for p in packages] == [("org.acme", "lib", "7.1")]


def test_pom_with_a_dtd_or_another_root_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><project>&lol;</project>'
    with pytest.raises(CatalogError, match="DTD"):
        parse_pom(bomb, cataloger="java")
    # In UTF-16 the byte check for a DTD would not match: such input is refused first.
    with pytest.raises(CatalogError, match="not UTF-8"):
        parse_pom("<!DOCTYPE x><project/>".encode("utf-16"), cataloger="java")
    with pytest.raises(CatalogError, match="not <project>"):
        parse_pom(b"<settings/>", cataloger="java")
    with pytest.raises(CatalogError, match="not well-formed"):
        parse_pom(b"<project><dependencies>", cataloger="java")


def test_pom_encoding_declaration_is_not_trusted() -> None:
    # Found by fuzzing: an unknown encoding name raised LookupError inside the parser.
    # The bytes are decoded before parsing, so the declaration no longer matters.
    dependency = (
        "<dependencies><dependency><groupId>g\u00e9</groupId><artifactId>a</artifactId>"
        "<version>1</version></dependency></dependencies>"
    )
    for declared, data in (
        (
            "UTZ-8",
            f'<?xml version="1.0" encoding="UTZ-8"?><project>{dependency}</project>'.encode(),
        ),
        (
            "cp037",
            f'<?xml version="1.0" encoding="cp037"?><project>{dependency}</project>'.encode(),
        ),
        (
            "ISO-8859-1",
            f'<?xml version="1.0" encoding="ISO-8859-1"?><project>{dependency}</project>'.encode(
                "latin-1"
            ),
        ),
    ):
        packages = parse_pom(data, cataloger="java")
        assert [(p.namespace, p.name) for p in packages] == [("g\u00e9", "a")], declared


def test_property_doubling_bomb_is_cut_short() -> None:
    props = "".join(f"<p{i}>${{p{i + 1}}}${{p{i + 1}}}</p{i}>" for i in range(30)) + "<p30>x</p30>"
    pom = (
        f"<project><properties>{props}</properties><dependencies><dependency>"
        "<groupId>g</groupId><artifactId>a</artifactId><version>${p0}</version>"
        "</dependency></dependencies></project>"
    ).encode()
    assert parse_pom(pom, cataloger="java") == []


def test_embedded_pom_licenses() -> None:
    pom = b"""<project xmlns="http://maven.apache.org/POM/4.0.0"><licenses>
      <license><name>Apache License, Version 2.0</name></license>
      <license><name> MIT </name></license><license><url>https://x</url></license>
    </licenses></project>"""
    assert pom_licenses(pom) == ("Apache License, Version 2.0", "MIT")
    assert pom_licenses(b"<not xml") == ()


# --- fuzzing --------------------------------------------------------------------------

_GRADLE_SEED = (GRADLE / "happy.lockfile").read_text()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_gradle_random_text(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_gradle_lockfile(text, cataloger="java")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.text(max_size=20), st.integers(min_value=0))
def test_fuzz_gradle_mutated(position: int, insert: str, cut: int) -> None:
    at = position % len(_GRADLE_SEED)
    text = _GRADLE_SEED[:at] + insert + _GRADLE_SEED[at + cut % 5 :]
    with contextlib.suppress(CatalogError):
        parse_gradle_lockfile(text, cataloger="java")


_POM_SEED = (TRIVY / "e2e" / "repo" / "pom" / "pom.xml").read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_pom_random_bytes(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        parse_pom(data, cataloger="java")
    pom_licenses(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.binary(max_size=12), st.integers(min_value=0))
def test_fuzz_pom_mutated(position: int, insert: bytes, cut: int) -> None:
    at = position % len(_POM_SEED)
    data = _POM_SEED[:at] + insert + _POM_SEED[at + cut % 7 :]
    with contextlib.suppress(CatalogError):
        parse_pom(data, cataloger="java")
    pom_licenses(data)
