""".NET: deps.json and packages.lock.json against Trivy's fixtures; packages.config.

Expectations are Trivy's, from aquasecurity/trivy (fixtures at dc3c56eed58a):
* deps.json: pkg/dependency/parser/dotnet/core_deps/parse_test.go. The stored copy of
  that test predates the multi-project and ambiguous-root fixtures; for those two the
  expected set follows from the parser at 058762ee2809 (core_deps/parse.go), which keeps
  every package/project/runtimepack library the runtime target lists with assets.
* packages.lock.json: pkg/dependency/parser/nuget/lock/parse_test.go + parse_testcase.go
  (nuGetSimple, nuGetSubDependencies, nuGetMultiTarget, nuGetLegacy).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.dotnet import (
    DotnetCataloger,
    parse_deps_json,
    parse_nuget_lock,
    parse_packages_config,
)
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode

LOCKFILES = Path(__file__).resolve().parents[1] / "data" / "trivy" / "lockfiles"
DEPS = LOCKFILES / "dotnet-deps"
NUGET = LOCKFILES / "nuget-lock"
FS = CatalogContext(ScanMode.FILESYSTEM)
IMAGE = CatalogContext(ScanMode.IMAGE)

DEPS_CASES = {
    "happy.deps.json": {("ExampleApp1", "1.0.0"), ("Newtonsoft.Json", "13.0.1")},
    # JsonDiffPatch/Libuv have runtime assets; System.Collections.Immutable is absent from
    # the target (kept); the rest are listed without assets (compile-time only, skipped).
    "without-runtime.deps.json": {
        ("hello2", "1.0.0"),
        ("JsonDiffPatch", "2.0.61"),
        ("Libuv", "1.9.1"),
        ("System.Collections.Immutable", "1.3.0"),
    },
    "no-libraries.deps.json": set(),
    "missing-target.deps.json": {("ExampleApp1", "1.0.0"), ("Newtonsoft.Json", "13.0.1")},
    "self-contained.deps.json": {
        ("ExampleApp1", "1.0.0"),
        ("Newtonsoft.Json", "13.0.1"),
        ("Microsoft.AspNetCore.App.Runtime.linux-x64", "8.0.0"),
        ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.0"),
    },
    "multi-project.deps.json": {
        ("Web", "1.0.0"),
        ("Api", "1.0.0"),
        ("Data", "1.0.0"),
        ("Newtonsoft.Json", "13.0.3"),
    },
    "ambiguous-root.deps.json": {
        ("Web", "1.0.0"),
        ("Worker", "1.0.0"),
        ("Newtonsoft.Json", "13.0.3"),
    },
}

NUGET_SIMPLE = {("Newtonsoft.Json", "12.0.3"), ("NuGet.Frameworks", "5.7.0")}
NUGET_CASES = {
    "packages_lock_simple.json": NUGET_SIMPLE,
    "packages_lock_legacy.json": {("AWSSDK.Core", "3.5.1.30"), ("Newtonsoft.Json", "12.0.3")},
    "packages_lock_subdependencies.json": NUGET_SIMPLE
    | {
        ("Microsoft.Extensions.ApiDescription.Server", "3.0.0"),
        ("Microsoft.OpenApi", "1.1.4"),
        ("Swashbuckle.AspNetCore", "5.5.1"),
        ("Swashbuckle.AspNetCore.Swagger", "5.5.1"),
        ("Swashbuckle.AspNetCore.SwaggerGen", "5.5.1"),
        ("Swashbuckle.AspNetCore.SwaggerUI", "5.5.1"),
    },
    "packages_lock_multi.json": {
        ("AWSSDK.Core", "3.5.1.30"),
        ("Microsoft.Bcl.AsyncInterfaces", "1.1.0"),
        ("Microsoft.CSharp", "4.3.0"),
        ("Microsoft.NETCore.Platforms", "1.1.0"),
        ("Microsoft.NETCore.Targets", "1.1.0"),
        ("Microsoft.NETFramework.ReferenceAssemblies", "1.0.0"),
        ("Microsoft.NETFramework.ReferenceAssemblies.net20", "1.0.0"),
        ("Microsoft.NETFramework.ReferenceAssemblies.net40", "1.0.0"),
        ("NETStandard.Library", "1.6.1"),
        ("NETStandard.Library", "2.0.3"),
        ("Newtonsoft.Json", "12.0.3"),
        ("System.Collections", "4.3.0"),
        ("System.ComponentModel", "4.3.0"),
        ("System.ComponentModel.Primitives", "4.3.0"),
        ("System.ComponentModel.TypeConverter", "4.3.0"),
        ("System.Diagnostics.Debug", "4.3.0"),
        ("System.Diagnostics.Tools", "4.3.0"),
        ("System.Dynamic.Runtime", "4.3.0"),
        ("System.Globalization", "4.3.0"),
        ("System.IO", "4.3.0"),
        ("System.Linq", "4.3.0"),
        ("System.Linq.Expressions", "4.3.0"),
        ("System.Net.Primitives", "4.3.0"),
        ("System.ObjectModel", "4.3.0"),
        ("System.Reflection", "4.3.0"),
        ("System.Reflection.Extensions", "4.3.0"),
        ("System.Reflection.Primitives", "4.3.0"),
        ("System.Resources.ResourceManager", "4.3.0"),
        ("System.Runtime", "4.3.0"),
        ("System.Runtime.CompilerServices.Unsafe", "4.5.2"),
        ("System.Runtime.Extensions", "4.3.0"),
        ("System.Runtime.Serialization.Primitives", "4.3.0"),
        ("System.Text.Encoding", "4.3.0"),
        ("System.Text.Encoding.Extensions", "4.3.0"),
        ("System.Text.RegularExpressions", "4.3.0"),
        ("System.Threading", "4.3.0"),
        ("System.Threading.Tasks", "4.3.0"),
        ("System.Threading.Tasks.Extensions", "4.5.2"),
        ("System.Xml.ReaderWriter", "4.3.0"),
        ("System.Xml.XDocument", "4.3.0"),
    },
}


def content(path: str, data: bytes) -> FileContent:
    return FileContent(path, len(data), io.BytesIO(data), 1 << 30)


def pairs(packages: list[Package] | tuple[Package, ...]) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in packages}


@pytest.mark.parametrize("fixture", sorted(DEPS_CASES))
@pytest.mark.parametrize("ctx", [IMAGE, FS], ids=["image", "filesystem"])
def test_deps_json_matches_trivy(fixture: str, ctx: CatalogContext) -> None:
    file = content(f"app/{fixture}", (DEPS / fixture).read_bytes())
    result = DotnetCataloger().parse(file, ctx)
    assert pairs(result.packages) == DEPS_CASES[fixture]
    assert all(p.type is PackageType.NUGET and p.cataloger == "dotnet" for p in result.packages)


def test_invalid_deps_json_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="not valid JSON"):
        DotnetCataloger().parse(
            content("app/invalid.deps.json", (DEPS / "invalid.deps.json").read_bytes()), IMAGE
        )


@pytest.mark.parametrize("fixture", sorted(NUGET_CASES))
def test_nuget_lock_matches_trivy(fixture: str) -> None:
    file = content("src/packages.lock.json", (NUGET / fixture).read_bytes())
    result = DotnetCataloger().parse(file, FS)
    assert pairs(result.packages) == NUGET_CASES[fixture]
    assert not any(p.dev for p in result.packages)


def test_wants() -> None:
    dotnet = DotnetCataloger()
    assert dotnet.wants("app/MyApp.deps.json", 900, 0o644, IMAGE)
    assert not dotnet.wants("app/.deps.json", 900, 0o644, IMAGE)
    assert not dotnet.wants("src/packages.lock.json", 900, 0o644, IMAGE)
    assert dotnet.wants("src/packages.lock.json", 900, 0o644, FS)
    assert dotnet.wants("src/packages.config", 900, 0o644, FS)
    assert not dotnet.wants("src/package.json", 900, 0o644, FS)


PACKAGES_CONFIG = b"""<?xml version="1.0" encoding="utf-8"?>
<packages>
  <package id="Newtonsoft.Json" version="12.0.3" targetFramework="net48" />
  <package id="NUnit" version="3.13.2" targetFramework="net48" developmentDependency="true" />
  <package id="" version="1.0.0" />
</packages>
"""


def test_packages_config_marks_development_dependencies() -> None:
    result = DotnetCataloger().parse(content("src/packages.config", PACKAGES_CONFIG), FS)
    assert {(p.name, p.version, p.dev) for p in result.packages} == {
        ("Newtonsoft.Json", "12.0.3", False),
        ("NUnit", "3.13.2", True),
    }


@pytest.mark.parametrize(
    "data",
    [
        b"<packages><package id='a'",  # truncated
        b"<configuration/>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><packages><package id="&a;" version="1"/></packages>',
    ],
)
def test_bad_packages_config_is_a_catalog_error(data: bytes) -> None:
    with pytest.raises(CatalogError):
        parse_packages_config(data, cataloger="dotnet")


@pytest.mark.parametrize(
    "text",
    ["[]", '{"libraries": []}', '{"targets": {"x": []}, "runtimeTarget": {"name": "x"}}'],
)
def test_deps_json_of_the_wrong_shape_is_a_catalog_error(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_deps_json(text, cataloger="dotnet")


@pytest.mark.parametrize(
    "text", ["", "{", "[]", '{"dependencies": []}', '{"dependencies": {"net5.0": [1]}}']
)
def test_nuget_lock_of_the_wrong_shape_is_a_catalog_error(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_nuget_lock(text, cataloger="dotnet")


# --- fuzzing -----------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
_DEPS_TEXTS = [p.read_text() for p in sorted(DEPS.glob("*.json"))]
_LOCK_TEXTS = [p.read_text() for p in sorted(NUGET.glob("*.json"))]


@st.composite
def mutated(draw: st.DrawFn, texts: list[str]) -> str:
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=6)) + text[at + draw(st.integers(0, 6)) :]
    return text


def _deps_shaped(value: object) -> str:
    return json.dumps({"runtimeTarget": {"name": "t"}, "targets": {"t": value}, "libraries": value})


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), mutated(_DEPS_TEXTS), _JSON.map(_deps_shaped)))
def test_fuzz_deps_json(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_deps_json(text, cataloger="dotnet")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        mutated(_LOCK_TEXTS),
        _JSON.map(lambda v: json.dumps({"version": 1, "dependencies": {"net": v}})),
    )
)
def test_fuzz_nuget_lock(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_nuget_lock(text, cataloger="dotnet")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.integers(0, len(PACKAGES_CONFIG)).map(lambda n: PACKAGES_CONFIG[:n]),
    )
)
def test_fuzz_packages_config(data: bytes) -> None:
    with contextlib.suppress(CatalogError):
        parse_packages_config(data, cataloger="dotnet")
