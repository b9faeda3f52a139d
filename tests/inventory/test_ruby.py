"""Ruby: Bundler lock files (Trivy's fixtures) and real installed gem specifications.

The installed-gem tests read the gemspecs that ``apt-get install ruby`` puts on the
machine and compare them with what ``gem list --local`` reports; they skip where Ruby
is not installed.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.artifact.memory import MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, FileContent, ScanMode
from stockade.inventory.ruby import RubyCataloger, parse_gemfile_lock, parse_gemspec

BUNDLER = Path(__file__).parent.parent / "data" / "trivy" / "lockfiles" / "bundler"
FS = CatalogContext(ScanMode.FILESYSTEM)
IMAGE = CatalogContext(ScanMode.IMAGE)


def parse(path: Path, name: str = "Gemfile.lock") -> list[Package]:
    data = path.read_bytes()
    file = FileContent(name, len(data), io.BytesIO(data), 1 << 20)
    return list(RubyCataloger().parse(file, FS).packages)


def pairs(packages: list[Package]) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in packages}


# --- Gemfile.lock: expected packages from aquasecurity/trivy
# pkg/dependency/parser/ruby/bundler/parse_test.go (NormalLibs, Bundler2Libs, and an
# empty list for the malformed file, which is not an error). Trivy states no dev flag.

NORMAL = {
    ("coderay", "1.1.2"),
    ("concurrent-ruby", "1.1.5"),
    ("dotenv", "2.7.2"),
    ("faker", "1.9.3"),
    ("i18n", "1.6.0"),
    ("method_source", "0.9.2"),
    ("pry", "0.12.2"),
}
BUNDLER2 = {
    ("coderay", "1.1.3"),
    ("concurrent-ruby", "1.1.10"),
    ("dotenv", "2.7.6"),
    ("faker", "2.21.0"),
    ("i18n", "1.10.0"),
    ("json", "2.6.2"),
    ("method_source", "1.0.0"),
    ("pry", "0.14.1"),
}


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("Gemfile_normal.lock", NORMAL),
        ("Gemfile_bundler2.lock", BUNDLER2),
        ("Gemfile_malformed.lock", set()),
    ],
)
def test_gemfile_lock_fixtures(fixture: str, expected: set[tuple[str, str]]) -> None:
    packages = parse(BUNDLER / fixture)
    assert pairs(packages) == expected
    assert len(packages) == len(expected)
    assert all(p.type is PackageType.GEM and not p.dev and p.cataloger == "ruby" for p in packages)


def test_gemfile_lock_sections_platforms_and_whitespace() -> None:
    lock = (
        "GIT\n  remote: https://github.com/acme/tool.git\n  revision: abc\n  specs:\n"
        "    tool (0.3.0)\n      rake\n\n"
        "PATH\n  remote: .\n  specs:\n    myapp (1.0.0)\n\n"
        "GEM\n  remote: https://rubygems.org/\n  specs:\n"
        "    nokogiri (1.13.6-x86_64-linux)\n      racc (~> 1.4)\n"
        "    nokogiri (1.13.6-arm64-darwin)\n      \n"
        "    racc (1.6.0)\n\n"
        "PLATFORMS\n  arm64-darwin\n  x86_64-linux\n\n"
        "DEPENDENCIES\n  nokogiri\n  tool!\n\n"
        "CHECKSUMS\n  racc (1.6.0) sha256=00\n\n"
        "BUNDLED WITH\n   2.5.3\n"
    )
    assert [(p.name, p.version) for p in parse_gemfile_lock(lock, cataloger="ruby")] == [
        ("tool", "0.3.0"),
        ("myapp", "1.0.0"),
        ("nokogiri", "1.13.6"),
        ("racc", "1.6.0"),
    ]


def test_gemfile_lock_malformed_spec_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="line 3: expected a locked gem"):
        parse_gemfile_lock("GEM\n  specs:\n    broken 1.0\n", cataloger="ruby")


def test_lock_files_only_in_filesystem_mode_gemspecs_in_both() -> None:
    ruby = RubyCataloger()
    for path in ("Gemfile.lock", "app/gems.locked"):
        assert ruby.wants(path, 1, 0o644, FS)
        assert not ruby.wants(path, 1, 0o644, IMAGE)
    for path in (
        "usr/local/bundle/specifications/rack-3.0.8.gemspec",
        "usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec",
        "specifications/x-1.gemspec",
    ):
        assert ruby.wants(path, 1, 0o644, IMAGE)
    for path in ("app/myapp.gemspec", "usr/lib/ruby/gems/3.1.0/gems/rake-13.0.6/rake.gemspec"):
        assert not ruby.wants(path, 1, 0o644, FS)


# --- gemspecs -------------------------------------------------------------------------


def test_gemspec_dsl_variants() -> None:
    text = """# -*- encoding: utf-8 -*-
# stub: acme 2.0.0.pre ruby lib
Gem::Specification.new { |spec|
  spec.name = 'acme'.freeze # the name
  spec.version = Gem::Version.new("2.0.0.pre")
  spec.license = "MIT"
  spec.metadata = { "name" => "not this" } if spec.respond_to? :metadata=
}
"""
    package = parse_gemspec(text, cataloger="ruby")
    assert (package.name, package.version, package.licenses) == ("acme", "2.0.0.pre", ("MIT",))
    words = (
        'Gem::Specification.new do |s|\n s.name = "w"\n s.version = "1"\n'
        " s.licenses = %w[MIT Ruby]\nend\n"
    )
    assert parse_gemspec(words, cataloger="ruby").licenses == ("MIT", "Ruby")


def test_gemspec_without_literal_version_is_a_catalog_error() -> None:
    source = 'Gem::Specification.new do |s|\n  s.name = "x"\n  s.version = X::VERSION\nend\n'
    with pytest.raises(CatalogError, match="no literal version"):
        parse_gemspec(source, cataloger="ruby")
    with pytest.raises(CatalogError, match=r"Gem::Specification\.new"):
        parse_gemspec("name = 'x'", cataloger="ruby")


def _gem_dirs() -> list[Path]:
    ruby = shutil.which("ruby")
    if ruby is None:
        return []
    out = subprocess.run(
        [ruby, "-e", "puts Gem.path"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [Path(line) / "specifications" for line in out.splitlines() if line.strip()]


def _gem_list() -> set[tuple[str, str]]:
    out = subprocess.run(
        ["gem", "list", "--local"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    listed = set()
    for line in out.splitlines():
        match = re.fullmatch(r"(\S+) \((.*)\)", line.strip())
        if match is None:
            continue
        for version in match.group(2).split(", "):
            listed.add((match.group(1), version.removeprefix("default: ").split()[0]))
    return listed


needs_ruby = pytest.mark.skipif(
    shutil.which("ruby") is None or shutil.which("gem") is None,
    reason="needs Ruby's installed gems: apt-get install ruby",
)


@needs_ruby
def test_real_installed_gemspecs_match_gem_list() -> None:
    ruby = RubyCataloger()
    found: dict[tuple[str, str], Package] = {}
    count = 0
    for directory in _gem_dirs():
        for spec in sorted([*directory.glob("*.gemspec"), *directory.glob("default/*.gemspec")]):
            path = str(spec).lstrip("/")
            assert ruby.wants(path, spec.stat().st_size, 0o644, IMAGE)
            data = spec.read_bytes()
            result = ruby.parse(FileContent(path, len(data), io.BytesIO(data), 1 << 20), IMAGE)
            for package in result.packages:
                found[(package.name, package.version)] = package
            count += 1
    assert count > 0
    assert set(found) == _gem_list()
    # Licenses as the specifications declare them (s.licenses = [...]).
    if ("rake", "13.0.6") in found:
        assert found["rake", "13.0.6"].licenses == ("MIT",)
    if ("rbs", "2.1.0") in found:
        assert found["rbs", "2.1.0"].licenses == ("BSD-2-Clause", "Ruby")


@needs_ruby
def test_engine_reads_only_specifications_of_a_real_gem_home() -> None:
    homes = [d.parent for d in _gem_dirs() if d.is_dir() and (d.parent / "gems").is_dir()]
    if not homes:
        pytest.skip("no gem home with both gems/ and specifications/")
    with DirectorySource(str(homes[0])) as source:
        inventory = build_inventory(source, [RubyCataloger()], ctx=IMAGE, workers=1)
    specs = list((homes[0] / "specifications").rglob("*.gemspec"))
    assert len(inventory.packages) == len(specs)
    assert all(p.purl.startswith("pkg:gem/") for p in inventory.packages)
    assert all("/specifications/" in "/" + p.locations[0].path for p in inventory.packages)


def test_engine_image_mode_skips_lock_files() -> None:
    lock = (BUNDLER / "Gemfile_normal.lock").read_bytes()
    source = MemorySource([{"app/Gemfile.lock": lock}])
    assert build_inventory(source, [RubyCataloger()], ctx=IMAGE, workers=1).packages == ()
    inventory = build_inventory(source, [RubyCataloger()], ctx=FS, workers=1)
    assert "pkg:gem/pry@0.12.2" in {p.purl for p in inventory.packages}


# --- fuzzing --------------------------------------------------------------------------

_LOCK_SEED = (BUNDLER / "Gemfile_bundler2.lock").read_text()
_SPEC_SEED = """Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
  s.licenses = ["MIT".freeze]
end
"""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_random_text(text: str) -> None:
    with contextlib.suppress(CatalogError):
        parse_gemfile_lock(text, cataloger="ruby")
    with contextlib.suppress(CatalogError):
        parse_gemspec(text, cataloger="ruby")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([_LOCK_SEED, _SPEC_SEED]),
    st.integers(min_value=0),
    st.text(max_size=16),
    st.integers(min_value=0),
)
def test_fuzz_mutated(seed: str, position: int, insert: str, cut: int) -> None:
    at = position % len(seed)
    text = seed[:at] + insert + seed[at + cut % 6 :]
    with contextlib.suppress(CatalogError):
        parse_gemfile_lock(text, cataloger="ruby")
    with contextlib.suppress(CatalogError):
        parse_gemspec(text, cataloger="ruby")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["Gemfile.lock", "specifications/a.gemspec"]))
def test_fuzz_cataloger_bytes(data: bytes, path: str) -> None:
    file = FileContent(path, len(data), io.BytesIO(data), 1 << 20)
    with contextlib.suppress(CatalogError):
        RubyCataloger().parse(file, FS)
