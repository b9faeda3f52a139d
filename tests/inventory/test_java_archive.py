"""Java archives: real Maven- and JDK-built jars, wars, ears, fat and shaded jars, bombs.

The archives under tests/data/java/archives were built by Maven and the JDK jar tool
(see tests/data/java/README.md); more are built here with ``zipfile`` in the layout
those tools write, and with ``javac``/``jar`` when a JDK is installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.java import ArchiveLimits, JavaCataloger, scan_archive
from stockade.inventory.java.metadata import file_name_splits, manifest_coordinates, parse_manifest

ARCHIVES = Path(__file__).parent.parent / "data" / "java" / "archives"

Coordinate = tuple[str | None, str, str]


def coordinates(packages: tuple[Package, ...] | list[Package]) -> set[Coordinate]:
    return {(p.namespace, p.name, p.version) for p in packages}


def located(packages: tuple[Package, ...]) -> dict[Coordinate, str]:
    """Where each package of a nested archive was found ('' for the scanned file itself)."""
    return {
        (p.namespace, p.name, p.version): p.locations[0].path if p.locations else ""
        for p in packages
    }


def scan_file(name: str, limits: ArchiveLimits | None = None) -> tuple[Package, ...]:
    scan = scan_archive((ARCHIVES / name).read_bytes(), name, cataloger="java", limits=limits)
    assert scan.warnings == ()
    return scan.packages


def make_zip(members: Mapping[str, bytes | str], *, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def maven_jar(group: str, artifact: str, version: str, **extra: bytes | str) -> bytes:
    """A jar laid out as maven-jar-plugin writes it."""
    base = f"META-INF/maven/{group}/{artifact}"
    return make_zip(
        {
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nCreated-By: Maven JAR Plugin 3.4.1"
            "\r\nBuild-Jdk-Spec: 17\r\n\r\n",
            f"{group.replace('.', '/')}/Main.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x3d",
            f"{base}/pom.xml": f"<project><groupId>{group}</groupId></project>",
            f"{base}/pom.properties": (
                "#Created by Apache Maven 3.8.7\n"
                f"artifactId={artifact}\ngroupId={group}\nversion={version}\n"
            ),
            **extra,
        }
    )


# --- archives built by Maven and the JDK jar tool (committed) -------------------------


def test_maven_built_jar_is_named_by_its_pom_properties_with_pom_licenses() -> None:
    (package,) = scan_file("lib-a-1.2.3.jar")
    assert (package.namespace, package.name, package.version) == (
        "com.example.libs",
        "lib-a",
        "1.2.3",
    )
    assert package.type is PackageType.MAVEN
    assert package.licenses == ("Apache-2.0",)
    assert package.cataloger == "java"
    assert package.locations == ()  # the engine locates the scanned file itself


def test_shaded_jar_gives_one_package_per_pom_properties() -> None:
    assert coordinates(scan_file("app-3.1.0-shaded.jar")) == {
        ("com.example.stockade", "app", "3.1.0"),
        ("com.example.libs", "lib-a", "1.2.3"),
        ("org.example.other", "lib-b", "2.0.0-SNAPSHOT"),
    }


def test_jar_without_maven_metadata_falls_back_to_its_manifest() -> None:
    # greeter.jar: made by `jar --manifest`, no version in the file name.
    (package,) = scan_file("greeter.jar")
    assert (package.namespace, package.name, package.version) == (
        "org.example.greeter",
        "greeter",
        "0.9.1",
    )


def test_osgi_bundle_manifest_gives_name_group_version_and_license() -> None:
    # Bundle-Name is a localisation key (%bundle.name), so the symbolic name is used.
    (package,) = scan_file("widgets.jar")
    assert (package.namespace, package.name, package.version) == ("org.example", "widgets", "4.5.6")
    assert package.licenses == ("Apache-2.0",)


def test_war_lists_itself_and_its_web_inf_lib_jars_at_nested_locations() -> None:
    assert located(scan_file("webapp-1.0.war")) == {
        ("com.example.web", "webapp", "1.0"): "",
        ("com.example.libs", "lib-a", "1.2.3"): "webapp-1.0.war!/WEB-INF/lib/lib-a-1.2.3.jar",
        ("org.example.other", "lib-b", "2.0.0-SNAPSHOT"): (
            "webapp-1.0.war!/WEB-INF/lib/lib-b-2.0.0-SNAPSHOT.jar"
        ),
        ("org.example.greeter", "greeter", "0.9.1"): "webapp-1.0.war!/WEB-INF/lib/greeter.jar",
    }


def test_spring_boot_fat_jar_reads_stored_boot_inf_lib_jars() -> None:
    with zipfile.ZipFile(ARCHIVES / "boot-app-0.0.1-SNAPSHOT.jar") as archive:
        nested = archive.getinfo("BOOT-INF/lib/lib-a-1.2.3.jar")
        assert nested.compress_type == zipfile.ZIP_STORED  # as Spring Boot requires
    assert located(scan_file("boot-app-0.0.1-SNAPSHOT.jar")) == {
        ("com.example.boot", "boot-app", "0.0.1-SNAPSHOT"): "",
        ("com.example.libs", "lib-a", "1.2.3"): (
            "boot-app-0.0.1-SNAPSHOT.jar!/BOOT-INF/lib/lib-a-1.2.3.jar"
        ),
        (
            "org.example",
            "widgets",
            "4.5.6",
        ): "boot-app-0.0.1-SNAPSHOT.jar!/BOOT-INF/lib/widgets.jar",
    }


def test_ear_recurses_into_its_war_module_and_lib_jars() -> None:
    assert located(scan_file("enterprise.ear")) == {
        ("com.example.stockade", "app", "3.1.0"): "enterprise.ear!/lib/app-3.1.0.jar",
        ("com.example.web", "webapp", "1.0"): "enterprise.ear!/webapp-1.0.war",
        ("com.example.libs", "lib-a", "1.2.3"): (
            "enterprise.ear!/webapp-1.0.war!/WEB-INF/lib/lib-a-1.2.3.jar"
        ),
        ("org.example.other", "lib-b", "2.0.0-SNAPSHOT"): (
            "enterprise.ear!/webapp-1.0.war!/WEB-INF/lib/lib-b-2.0.0-SNAPSHOT.jar"
        ),
        ("org.example.greeter", "greeter", "0.9.1"): (
            "enterprise.ear!/webapp-1.0.war!/WEB-INF/lib/greeter.jar"
        ),
    }


def test_depth_limit_skips_deeper_archives_with_a_warning() -> None:
    scan = scan_archive(
        (ARCHIVES / "enterprise.ear").read_bytes(),
        "enterprise.ear",
        cataloger="java",
        limits=ArchiveLimits(max_depth=1),
    )
    assert coordinates(scan.packages) == {
        ("com.example.stockade", "app", "3.1.0"),
        ("com.example.web", "webapp", "1.0"),
    }
    assert len(scan.warnings) == 3
    assert all("nested more than 1 levels deep" in w for w in scan.warnings)
    assert "enterprise.ear!/webapp-1.0.war!/WEB-INF/lib/lib-a-1.2.3.jar" in " ".join(scan.warnings)


# --- the JDK jar tool, run now ---------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("jar") is None or shutil.which("javac") is None,
    reason="needs a JDK (javac, jar): apt-get install openjdk-17-jdk-headless",
)
def test_jar_built_by_the_jdk_jar_tool_now(tmp_path: Path) -> None:
    source = tmp_path / "src" / "org" / "example" / "tool" / "Tool.java"
    source.parent.mkdir(parents=True)
    source.write_text("package org.example.tool; public final class Tool {}\n")
    classes = tmp_path / "classes"
    subprocess.run(["javac", "-d", str(classes), str(source)], check=True, timeout=120)
    manifest = tmp_path / "MANIFEST.MF"
    manifest.write_text(
        "Implementation-Title: tool-kit\nImplementation-Version: 7.0.2\n"
        "Implementation-Vendor-Id: org.example.tool\n"
        # A value longer than 72 bytes: jar folds it onto a continuation line.
        f"Bundle-License: {'x' * 90}\n"
    )
    jar_path = tmp_path / "tool-kit-7.0.2.jar"
    subprocess.run(
        [
            "jar",
            "--create",
            "--file",
            str(jar_path),
            "--manifest",
            str(manifest),
            "-C",
            str(classes),
            ".",
        ],
        check=True,
        timeout=120,
    )
    data = jar_path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        raw_manifest = archive.read("META-INF/MANIFEST.MF")
    assert b"\r\n " in raw_manifest  # really folded by the tool
    (package,) = scan_archive(data, jar_path.name, cataloger="java").packages
    assert (package.namespace, package.name, package.version) == (
        "org.example.tool",
        "tool-kit",
        "7.0.2",
    )
    assert package.licenses == ("x" * 90,)


# --- zipfile-built archives: layouts, names, limits, damage ---------------------------


def test_jar_named_only_by_its_file_name() -> None:
    data = make_zip({"org/example/A.class": b"\xca\xfe\xba\xbe"})
    (package,) = scan_archive(data, "opt/lib/commons-chain-1.1.jar", cataloger="java").packages
    assert (package.namespace, package.name, package.version) == (None, "commons-chain", "1.1")


def test_jar_with_no_name_anywhere_gives_nothing() -> None:
    data = make_zip({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n\n"})
    assert scan_archive(data, "gettext.jar", cataloger="java").packages == ()


def test_shaded_jar_without_its_own_pom_properties_is_named_by_its_file_name() -> None:
    # maven-shade keeps the pom.properties of what it swallowed; this jar lost its own.
    inner = maven_jar("commons-io", "commons-io", "2.17.0")
    with zipfile.ZipFile(io.BytesIO(inner)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    data = make_zip(members)
    scan = scan_archive(data, "surefire-shared-utils-3.5.2.jar", cataloger="java")
    assert coordinates(scan.packages) == {
        ("commons-io", "commons-io", "2.17.0"),
        (None, "surefire-shared-utils", "3.5.2"),
    }


def test_renamed_jar_with_pom_properties_is_not_listed_twice() -> None:
    data = maven_jar("com.acme", "widget", "1.0")
    assert coordinates(scan_archive(data, "app.jar", cataloger="java").packages) == {
        ("com.acme", "widget", "1.0")
    }


def test_pom_properties_missing_a_field_or_unresolved_is_ignored() -> None:
    data = make_zip(
        {
            "META-INF/maven/g/a/pom.properties": "groupId=g\nartifactId=a\n",
            "META-INF/maven/g/b/pom.properties": "groupId=g\nartifactId=b\nversion=${revision}\n",
            "META-INF/maven/g/c/pom.properties": (
                "! comment\ngroupId : g\nartifactId c\nversion=3\n"
            ),
        }
    )
    assert coordinates(scan_archive(data, "x.jar", cataloger="java").packages) == {("g", "c", "3")}


def test_executable_jar_with_a_launch_script_prefix_is_read() -> None:
    # Spring Boot "fully executable" jars start with a shell script; zip allows it.
    data = b'#!/bin/bash\nexec java -jar "$0" "$@"\n' + maven_jar("com.acme", "svc", "2.0")
    assert coordinates(scan_archive(data, "svc.jar", cataloger="java").packages) == {
        ("com.acme", "svc", "2.0")
    }


def test_member_with_an_empty_name_is_ignored() -> None:
    # Found by fuzzing: zipfile.ZipInfo.is_dir() raises IndexError on an empty name.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
    scan = scan_archive(buffer.getvalue(), "e-1.jar", cataloger="java")
    assert coordinates(scan.packages) == {(None, "e", "1")}


def test_corrupt_outer_archive_is_a_catalog_error() -> None:
    data = (ARCHIVES / "lib-a-1.2.3.jar").read_bytes()
    with pytest.raises(CatalogError, match="not a readable Java archive"):
        scan_archive(data[: len(data) // 2], "lib-a-1.2.3.jar", cataloger="java")
    with pytest.raises(CatalogError):
        scan_archive(b"this is not a zip", "fake.war", cataloger="java")


def test_corrupt_nested_archive_is_skipped_with_a_warning() -> None:
    data = make_zip(
        {
            "WEB-INF/lib/broken-1.0.jar": b"PK\x03\x04 truncated",
            "WEB-INF/lib/good-1.0.jar": maven_jar("com.acme", "good", "1.0"),
        }
    )
    scan = scan_archive(data, "site.war", cataloger="java")
    assert coordinates(scan.packages) == {("com.acme", "good", "1.0")}
    (warning,) = scan.warnings
    assert warning.startswith("site.war!/WEB-INF/lib/broken-1.0.jar: not a readable archive")


def test_corrupt_member_is_skipped_with_a_warning() -> None:
    data = bytearray(maven_jar("com.acme", "hurt", "1.0"))
    # Damage the deflated bytes of pom.properties (its local header is found by name).
    name = b"META-INF/maven/com.acme/hurt/pom.properties"
    start = data.index(name) + len(name)
    data[start : start + 12] = b"\xff" * 12
    scan = scan_archive(bytes(data), "hurt.jar", cataloger="java")
    assert ("com.acme", "hurt", "1.0") not in coordinates(scan.packages)
    assert any("pom.properties: unreadable" in w for w in scan.warnings)


def test_zip_bomb_by_ratio_is_skipped() -> None:
    bomb = make_zip({"zeros.bin": bytes(2_000_000)})
    data = make_zip(
        {
            "BOOT-INF/lib/bomb-1.0.jar": make_zip({"x": bomb}, stored=True) + bytes(2_000_000),
            "BOOT-INF/lib/ok-1.0.jar": maven_jar("com.acme", "ok", "1.0"),
        }
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("BOOT-INF/lib/bomb-1.0.jar")
        ratio = info.file_size / info.compress_size
    assert ratio > 50
    scan = scan_archive(data, "fat.jar", cataloger="java", limits=ArchiveLimits(max_ratio=50))
    assert coordinates(scan.packages) == {("com.acme", "ok", "1.0")}
    (warning,) = scan.warnings
    assert "compression ratio" in warning
    assert warning.startswith("fat.jar!/BOOT-INF/lib/bomb-1.0.jar")


def test_nested_archive_over_the_size_limit_is_skipped() -> None:
    big = maven_jar("com.acme", "big", "1.0", **{"blob.bin": os.urandom(50_000)})
    data = make_zip({"lib/big-1.0.jar": big, "lib/small-1.0.jar": maven_jar("g", "small", "1")})
    scan = scan_archive(
        data, "x.ear", cataloger="java", limits=ArchiveLimits(max_nested_bytes=20_000)
    )
    assert coordinates(scan.packages) == {("g", "small", "1")}
    assert scan.warnings == (
        "x.ear!/lib/big-1.0.jar: larger than 20000 bytes; nested archive skipped",
    )


def test_total_nested_bytes_are_bounded_across_the_whole_file() -> None:
    members = {f"WEB-INF/lib/l{i}-1.0.jar": maven_jar("g", f"l{i}", "1.0") for i in range(5)}
    size = len(members["WEB-INF/lib/l0-1.0.jar"])
    scan = scan_archive(
        make_zip(members),
        "w.war",
        cataloger="java",
        limits=ArchiveLimits(max_total_nested_bytes=size * 3),
    )
    assert len(scan.packages) == 3
    assert len(scan.warnings) == 2
    assert all("exceed" in w for w in scan.warnings)


def test_nesting_bomb_is_bounded_by_depth_and_total_bytes() -> None:
    # Each level holds ten copies of the level below: 10**4 leaves, ~28 MB to open them all.
    level = maven_jar("g", "leaf", "1")
    for _ in range(4):
        level = make_zip({f"lib/copy{i}.jar": level for i in range(10)}, stored=True)
    scan = scan_archive(
        level, "bomb.jar", cataloger="java", limits=ArchiveLimits(max_total_nested_bytes=2_000_000)
    )
    assert coordinates(scan.packages) == {("g", "leaf", "1")}
    assert scan.warnings
    assert all("exceed 2000000 bytes" in w for w in scan.warnings)


def test_central_directory_declaring_too_many_entries_is_refused_before_listing() -> None:
    data = make_zip({f"f{i}": b"" for i in range(20)})
    with pytest.raises(CatalogError, match="20 entries, over the limit of 10"):
        scan_archive(data, "many.jar", cataloger="java", limits=ArchiveLimits(max_entries=10))
    nested = make_zip({"lib/many.jar": data, "lib/ok-1.jar": maven_jar("g", "ok", "1")})
    scan = scan_archive(nested, "o.ear", cataloger="java", limits=ArchiveLimits(max_entries=10))
    assert coordinates(scan.packages) == {("g", "ok", "1")}
    assert "20 entries" in scan.warnings[0]


# --- file names and manifests ---------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "first"),
    [
        ("commons-io-2.11.0.jar", ("commons-io", "2.11.0")),
        ("spring-core-5.3.4-SNAPSHOT.jar", ("spring-core", "5.3.4-SNAPSHOT")),
        ("log4j-1.2-api-2.17.1.jar", ("log4j-1.2-api", "2.17.1")),
        ("org.eclipse.jgit-7.8.0.202609011348-r.jar", ("org.eclipse.jgit", "7.8.0.202609011348-r")),
        ("commons-lang3-3.12.0.jar", ("commons-lang3", "3.12.0")),
        ("app.jar", None),
        ("1.0.jar", None),
    ],
)
def test_file_name_splits(file_name: str, first: tuple[str, str] | None) -> None:
    splits = file_name_splits(file_name)
    assert (splits[0] if splits else None) == first


def test_manifest_title_or_version_picks_between_file_name_readings() -> None:
    zstd = {"Implementation-Title": "zstd-jni", "Implementation-Version": "1.5.7-4"}
    coords = manifest_coordinates(zstd, "zstd-jni-1.5.7-4.jar")
    assert coords is not None
    assert (coords.artifact, coords.version) == ("zstd-jni", "1.5.7-4")
    guice = {
        "Bundle-Version": "3.1.0",
        "Bundle-SymbolicName": "org.sonatype.sisu.guice;singleton:=true",
    }
    coords = manifest_coordinates(guice, "sisu-guice-3.1.0-no_aop.jar")
    assert coords is not None
    assert (coords.group, coords.artifact, coords.version) == (
        "org.sonatype.sisu",
        "sisu-guice",
        "3.1.0",
    )


def test_manifest_main_section_folding_and_line_endings() -> None:
    raw = (
        b"Manifest-Version: 1.0\rImplementation-Title: very-long-arti\r\n fact-name\n"
        b"Implementation-Version: 1.0\n\nName: org/example/\nImplementation-Version: 9.9\n"
    )
    assert parse_manifest(raw) == {
        "Manifest-Version": "1.0",
        "Implementation-Title": "very-long-artifact-name",
        "Implementation-Version": "1.0",
    }


# --- the cataloger in the engine ------------------------------------------------------


def test_cataloger_wants_archives_in_both_modes_and_build_files_in_filesystem_mode() -> None:
    cataloger = JavaCataloger()
    image, fs = CatalogContext(ScanMode.IMAGE), CatalogContext(ScanMode.FILESYSTEM)
    for path in ("app/x.jar", "x.WAR", "a/b.ear", "p.jpi", "p.hpi", "x.par", "x.sar"):
        assert cataloger.wants(path, 1, 0o644, image)
    for path in ("x.jar.sha1", "pom.xml.bak", "jar", "x.zip"):
        assert not cataloger.wants(path, 1, 0o644, fs)
    for path in ("pom.xml", "app/gradle.lockfile", "buildscript-gradle.lockfile"):
        assert cataloger.wants(path, 1, 0o644, fs)
        assert not cataloger.wants(path, 1, 0o644, image)


def test_engine_gives_purls_and_nested_locations() -> None:
    source = MemorySource([{"opt/app/webapp-1.0.war": (ARCHIVES / "webapp-1.0.war").read_bytes()}])
    inventory = build_inventory(source, [JavaCataloger()], workers=1)
    by_purl = {p.purl: p for p in inventory.packages}
    assert set(by_purl) == {
        "pkg:maven/com.example.web/webapp@1.0",
        "pkg:maven/com.example.libs/lib-a@1.2.3",
        "pkg:maven/org.example.other/lib-b@2.0.0-SNAPSHOT",
        "pkg:maven/org.example.greeter/greeter@0.9.1",
    }
    assert [loc.path for loc in by_purl["pkg:maven/com.example.web/webapp@1.0"].locations] == [
        "opt/app/webapp-1.0.war"
    ]
    assert [loc.path for loc in by_purl["pkg:maven/com.example.libs/lib-a@1.2.3"].locations] == [
        "opt/app/webapp-1.0.war!/WEB-INF/lib/lib-a-1.2.3.jar"
    ]


def test_corrupt_archive_becomes_an_engine_warning() -> None:
    source = MemorySource(
        [
            {
                "srv/broken.jar": b"PK\x05\x06 nope",
                "srv/lib-a-1.2.3.jar": (ARCHIVES / "lib-a-1.2.3.jar").read_bytes(),
            }
        ]
    )
    warnings: list[str] = []
    inventory = build_inventory(source, [JavaCataloger()], workers=1, warn=warnings.append)
    assert [p.name for p in inventory.packages] == ["lib-a"]
    assert len(warnings) == 1
    assert warnings[0].startswith("srv/broken.jar: not a readable Java archive")


def war_with_a_truncated_library() -> bytes:
    """The real webapp-1.0.war, rewritten with its lib-a jar cut in half."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(ARCHIVES / "webapp-1.0.war") as original,
        zipfile.ZipFile(buffer, "w") as damaged,
    ):
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "WEB-INF/lib/lib-a-1.2.3.jar":
                data = data[: len(data) // 2]
            damaged.writestr(info, data)
    return buffer.getvalue()


def test_skipped_nested_archive_reaches_the_warn_callback(caplog: pytest.LogCaptureFixture) -> None:
    source = MemorySource([{"opt/app/webapp-1.0.war": war_with_a_truncated_library()}])
    warnings: list[str] = []
    inventory = build_inventory(source, [JavaCataloger()], workers=1, warn=warnings.append)
    assert {p.purl for p in inventory.packages} == {
        "pkg:maven/com.example.web/webapp@1.0",
        "pkg:maven/org.example.other/lib-b@2.0.0-SNAPSHOT",
        "pkg:maven/org.example.greeter/greeter@0.9.1",
    }
    (warning,) = warnings
    assert warning.startswith(
        "opt/app/webapp-1.0.war: WEB-INF/lib/lib-a-1.2.3.jar: not a readable archive ("
    )
    assert warning.endswith("; nested archive skipped")
    assert caplog.records == []  # told once, through the engine, not also logged


def test_archive_warnings_leave_the_cataloger_as_result_warnings() -> None:
    data = war_with_a_truncated_library()
    path = "opt/app/webapp-1.0.war"
    result = JavaCataloger().parse(
        FileContent(path, len(data), io.BytesIO(data), 1 << 30), CatalogContext()
    )
    direct = scan_archive(data, path, cataloger="java")
    assert direct.warnings == (f"{path}!/{result.warnings[0]}",)
    assert result.packages == direct.packages


# --- real jars from a Maven repository -------------------------------------------------

M2 = Path(os.environ.get("STOCKADE_M2_REPOSITORY", Path.home() / ".m2" / "repository"))


@pytest.mark.slow
@pytest.mark.skipif(not M2.is_dir(), reason=f"no local Maven repository at {M2}")
def test_real_jars_of_a_maven_repository() -> None:
    """Each ``G/A/V/A-V.jar`` of a local Maven repository: its path states G, A and V.

    Jars with their own pom.properties must give exactly (G, A, V); the rest (built by
    Gradle, Ant, bnd) are named from the file name and manifest, where only artifact id
    and version are checked: their group is a guess (see manifest_coordinates).
    """
    checked = exact = 0
    wrong: list[str] = []
    for jar in sorted(M2.rglob("*.jar")):
        rel = jar.relative_to(M2).parts
        if len(rel) < 4 or not jar.name.startswith(f"{rel[-3]}-{rel[-2]}"):
            continue
        group, artifact, version = ".".join(rel[:-3]), rel[-3], rel[-2]
        scan = scan_archive(jar.read_bytes(), jar.name, cataloger="java")
        own = {(p.namespace, p.name, p.version) for p in scan.packages if not p.locations}
        checked += 1
        if (group, artifact, version) in own:
            exact += 1
        elif not any((name, ver) == (artifact, version) for _, name, ver in own):
            wrong.append(f"{jar.name}: {sorted(own, key=str)}")
    if checked == 0:
        pytest.skip(f"no G/A/V/A-V.jar files under {M2}")
    assert wrong == []
    print(f"{checked} real jars: {exact} exact, {checked - exact} artifact+version only")


# --- fuzzing: only CatalogError may escape ----------------------------------------------

_SEEDS = [
    (ARCHIVES / name).read_bytes() for name in ("lib-a-1.2.3.jar", "webapp-1.0.war", "greeter.jar")
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        scan_archive(data, "fuzz.jar", cataloger="java")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(_SEEDS))),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8
    ),
    st.integers(min_value=0),
)
def test_fuzz_mutated_archives(seed: int, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_SEEDS[seed])
    for position, value in flips:
        data[position % len(data)] = value
    if cut % 4 == 0:
        data = data[: cut % len(data)]
    with contextlib.suppress(CatalogError):
        scan_archive(bytes(data), "webapp-1.0.war", cataloger="java")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_manifest_and_cataloger(data: bytes) -> None:
    parse_manifest(data)
    cataloger = JavaCataloger()
    file = FileContent("x/fuzz.jar", len(data), io.BytesIO(data), 1 << 20)
    with contextlib.suppress(CatalogError):
        cataloger.parse(file, CatalogContext(ScanMode.FILESYSTEM))
