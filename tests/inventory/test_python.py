"""The Python cataloger against Trivy's fixtures, Trivy's e2e repositories and a real venv.

Expected package lists are Trivy's (aquasecurity/trivy, Apache-2.0), read from the test
tables named in tests/data/trivy/MANIFEST.json and written here as data; each case cites
the file that states it. Where our output differs from Trivy's by design, the case is
skipped with the reason (and listed in the report that came with this code).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from stockade.artifact.memory import MemorySource
from stockade.artifact.rootfs import DirectorySource
from stockade.core.errors import CatalogError
from stockade.core.models import Package, PackageType
from stockade.inventory import CatalogContext, ScanMode, build_inventory
from stockade.inventory.python import PythonCataloger
from stockade.inventory.python.metadata import parse_metadata
from stockade.inventory.python.pipenv import parse_pipfile_lock
from stockade.inventory.python.poetry import parse_poetry_lock
from stockade.inventory.python.pyproject import parse_poetry_project
from stockade.inventory.python.requirements import parse_requirements, pinned_requirement
from stockade.inventory.python.uv import parse_uv_lock

DATA = Path(__file__).parents[1] / "data"
TRIVY = DATA / "trivy"
PACKAGING = TRIVY / "python-packaging"
LOCKS = TRIVY / "lockfiles"
E2E = TRIVY / "e2e"

FS = CatalogContext(mode=ScanMode.FILESYSTEM)
IMAGE = CatalogContext(mode=ScanMode.IMAGE)

Expected = dict[tuple[str, str], bool]
"""(name, version) → dev."""


def pins(*pairs: str, dev: tuple[str, ...] = ()) -> Expected:
    """``pins("a 1", "b 2", dev=("b",))``: packages, the named ones development-only."""
    out: Expected = {}
    for pair in pairs:
        name, version = pair.split(" ")
        out[(name, version)] = name in dev
    return out


def found(packages: list[Package]) -> Expected:
    out: Expected = {}
    for pkg in packages:
        assert pkg.type is PackageType.PYPI
        assert (pkg.name, pkg.version) not in out, f"{pkg.name} {pkg.version} listed twice"
        out[(pkg.name, pkg.version)] = pkg.dev
    return out


# --- installed metadata: pkg/dependency/parser/python/packaging/parse_test.go ----------

PACKAGING_CASES = {
    "setuptools-51.3.3-py3.8.egg-info.PKG-INFO": ("setuptools", "51.3.3"),
    "unidecode-egg-info.PKG-INFO": ("Unidecode", "0.4.1"),
    "distlib-0.3.1-py3.9.egg-info": ("distlib", "0.3.1"),
    "simple-0.1.0.METADATA": ("simple", "0.1.0"),
    "distlib-0.3.1.METADATA": ("distlib", "0.3.1"),
    "asyncssh-2.14.2.METADATA": ("asyncssh", "2.14.2"),
    "pyphen-0.14.0.METADATA": ("pyphen", "0.14.0"),
    "iniconfig-2.0.0.METADATA": ("iniconfig", "2.0.0"),
    "zipp-3.12.1.METADATA": ("zipp", "3.12.1"),
    "networkx-3.0.METADATA": ("networkx", "3.0"),
}


@pytest.mark.parametrize(("fixture", "expected"), PACKAGING_CASES.items())
def test_installed_metadata_matches_trivy(fixture: str, expected: tuple[str, str]) -> None:
    pkg = parse_metadata((PACKAGING / fixture).read_bytes(), where=fixture)
    assert (pkg.name, pkg.version) == expected
    assert not pkg.dev


def test_metadata_without_name_and_version_is_an_error_as_in_trivy() -> None:
    # Trivy's "invalid" case: wantErr.
    with pytest.raises(CatalogError, match="without Name and Version"):
        parse_metadata((PACKAGING / "invalid.json").read_bytes(), where="invalid.json")


@pytest.mark.parametrize(
    ("fixture", "licenses"),
    [
        # License-Expression wins (Trivy: "MIT").
        ("iniconfig-2.0.0.METADATA", ("MIT",)),
        # A specific classifier wins over the free-text field (Trivy agrees).
        ("distlib-0.3.1.METADATA", ("Python Software Foundation License",)),
        # The egg-info's classifiers come after an empty line, outside the header block.
        ("distlib-0.3.1-py3.9.egg-info", ("Python license",)),
        # "License :: OSI Approved" names no licence: the field is used (Trivy agrees).
        ("asyncssh-2.14.2.METADATA", ("Eclipse Public License v2.0",)),
        ("zipp-3.12.1.METADATA", ("MIT License",)),
        # Trivy joins these into one string; we keep one entry per licence.
        (
            "pyphen-0.14.0.METADATA",
            (
                "GNU General Public License v2 or later (GPLv2+)",
                "GNU Lesser General Public License v2 or later (LGPLv2+)",
                "Mozilla Public License 1.1 (MPL 1.1)",
            ),
        ),
        # Trivy reports "UNKNOWN" and "file://LICENSE.txt"; neither names a licence.
        ("setuptools-51.3.3-py3.8.egg-info.PKG-INFO", ()),
        ("networkx-3.0.METADATA", ()),
        ("simple-0.1.0.METADATA", ()),
    ],
)
def test_metadata_licenses(fixture: str, licenses: tuple[str, ...]) -> None:
    assert parse_metadata((PACKAGING / fixture).read_bytes(), where=fixture).licenses == licenses


def test_folded_headers_and_case_insensitive_field_names() -> None:
    data = b"name: demo\nVERSION: 1.0\nLicense: BSD\n  continued text\nClassifier: Foo\n\nName: x"
    pkg = parse_metadata(data, where="m")
    assert (pkg.name, pkg.version, pkg.licenses) == ("demo", "1.0", ("BSD",))


# --- requirements: pkg/dependency/parser/python/pip/parse_test.go, parse_testcase.go ----

PIP_CASES: dict[str, Expected] = {
    "requirements_flask.txt": pins(
        "click 8.0.0",
        "Flask 2.0.0",
        "itsdangerous 2.0.0",
        "Jinja2 3.0.0",
        "MarkupSafe 2.0.0",
        "Werkzeug 2.0.0",
    ),
    "requirements_comments.txt": pins(
        "click 8.0.0", "Flask 2.0.0", "Jinja2 3.0.0", "MarkupSafe 2.0.0"
    ),
    "requirements_spaces.txt": pins(
        "click 8.0.0", "Flask 2.0.0", "itsdangerous 2.0.0", "Jinja2 3.0.0"
    ),
    "requirements_no_version.txt": pins("Flask 2.0.0"),
    "requirements_operator.txt": pins("Django 2.3.4", "SomeProject 5.4"),
    "requirements_hash.txt": pins("FooProject 1.2", "Jinja2 3.0.0"),
    "requirements_hyphens.txt": pins("oauth2-client 4.0.0", "python-gitlab 2.0.0"),
    "requirement_exstras.txt": pins("pyjwt 2.1.0", "celery 4.4.7"),
    "requirements_utf16le.txt": pins("attrs 20.3.0"),
    "requirements_with_templating_engine.txt": {},
}


@pytest.mark.parametrize(("fixture", "expected"), PIP_CASES.items())
def test_requirements_match_trivy(fixture: str, expected: Expected) -> None:
    data = (LOCKS / "pip" / fixture).read_bytes()
    assert found(parse_requirements(data, where=fixture)) == expected


def test_compatible_requirements_case() -> None:
    pytest.skip(
        "Trivy's 'compatible versions' case runs its parser with useMinVersion (its "
        "--detection-priority comprehensive mode: `>=4.1.1` and `~=1.1` become versions); "
        "we report only exact pins, as Trivy does by default"
    )


def test_compatible_requirements_give_only_exact_pins() -> None:
    data = (LOCKS / "pip" / "requirements_compatible.txt").read_bytes()
    # Every line is a range or a wildcard (`==2.0.*`, `==1.*,>=1.2`): nothing is pinned.
    assert parse_requirements(data, where="requirements_compatible.txt") == []


@pytest.mark.parametrize(
    ("line", "pinned"),
    [
        ("requests[security,socks] == 2.31.0 ; python_version >= '3.8'", ("requests", "2.31.0")),
        ("foo===1.0-custom", ("foo", "1.0-custom")),
        ("foo (==1.0)", ("foo", "1.0")),
        ("foo==1.0,!=1.1", ("foo", "1.0")),
        ("foo==1.0 --hash=sha256:abc", ("foo", "1.0")),
        ("foo==v1.0.post1", ("foo", "v1.0.post1")),
        ("-r other.txt", None),
        ("-e git+https://example.com/x.git#egg=x", None),
        ("foo @ https://example.com/foo-1.0.tar.gz", None),
        ("foo>=1.0", None),
        ("foo==1.*", None),
        ("foo==", None),
        ("foo==1.0 bar", None),
    ],
)
def test_pinned_requirement(line: str, pinned: tuple[str, str] | None) -> None:
    assert pinned_requirement(line) == pinned


def test_line_continuations_and_utf16_big_endian() -> None:
    text = "alpha==1.0 \\\n    --hash=sha256:00\nbeta \\\n  == 2.0\n"
    assert found(parse_requirements(text.encode("utf-16"), where="r")) == pins(
        "alpha 1.0", "beta 2.0"
    )
    big_endian = b"\xfe\xff" + "gamma==3.0\n".encode("utf-16-be")
    assert found(parse_requirements(big_endian, where="r")) == pins("gamma 3.0")


# --- Pipfile.lock: pkg/dependency/parser/python/pipenv/parse_testcase.go --------------

PIPENV_NORMAL = pins(
    "urllib3 1.24.2",
    "requests 2.21.0",
    "pyyaml 5.1",
    "idna 2.8",
    "chardet 3.0.4",
    "certifi 2019.3.9",
)
PIPENV_CASES: dict[str, Expected] = {
    "Pipfile_normal.lock": PIPENV_NORMAL,
    "Pipfile_django.lock": PIPENV_NORMAL
    | pins("sqlparse 0.3.0", "pytz 2019.1", "djangorestframework 3.9.3", "django 2.2"),
    "Pipfile_many.lock": pins(
        "urllib3 1.24.2",
        "sqlparse 0.3.0",
        "six 1.12.0",
        "simplejson 3.16.0",
        "s3transfer 0.2.0",
        "rsa 3.4.2",
        "requests 2.21.0",
        "pyyaml 3.13",
        "pytz 2019.1",
        "python-dateutil 2.8.0",
        "pyasn1 0.4.5",
        "markupsafe 1.1.1",
        "jmespath 0.9.4",
        "jinja2 2.10.1",
        "idna 2.8",
        "framework 0.1.0",
        "docutils 0.14",
        "djangorestframework 3.9.3",
        "django 2.2",
        "colorama 0.3.9",
        "chardet 3.0.4",
        "certifi 2019.3.9",
        "botocore 1.12.137",
        "awscli 1.16.147",
    ),
}


@pytest.mark.parametrize(("fixture", "expected"), PIPENV_CASES.items())
def test_pipfile_lock_matches_trivy(fixture: str, expected: Expected) -> None:
    data = (LOCKS / "pipenv" / fixture).read_bytes()
    assert found(parse_pipfile_lock(data, where=fixture)) == expected


def test_pipfile_lock_develop_section_is_dev_unless_also_default() -> None:
    lock = {
        "default": {"a": {"version": "==1.0"}, "both": {"version": "==3.0"}},
        "develop": {"b": {"version": "==2.0"}, "both": {"version": "==3.0"}, "vcs": {"git": "x"}},
    }
    got = found(parse_pipfile_lock(json.dumps(lock).encode(), where="Pipfile.lock"))
    assert got == pins("a 1.0", "b 2.0", "both 3.0", dev=("b",))


# --- poetry.lock: pkg/dependency/parser/python/poetry/parse_testcase.go ---------------

POETRY_FLASK = pins(
    "atomicwrites 1.4.1",
    "attrs 25.1.0",
    "click 8.1.8",
    "colorama 0.4.6",
    "flask 1.0.3",
    "itsdangerous 2.2.0",
    "jinja2 3.1.5",
    "markupsafe 3.0.2",
    "more-itertools 10.6.0",
    "packaging 24.2",
    "pluggy 0.13.1",
    "py 1.11.0",
    "pytest 5.4.3",
    "wcwidth 0.2.13",
    "werkzeug 3.1.3",
    dev=("atomicwrites", "attrs", "more-itertools", "packaging", "py", "pytest", "wcwidth"),
)
POETRY_CASES: dict[str, Expected] = {
    "poetry_normal.lock": pins("pypi 2.1"),
    # Trivy's table uses poetryFlask for both the lock format 1.1 and the 2.1 file.
    "poetry_flask.lock": POETRY_FLASK,
    "poetry_v2_flask.lock": POETRY_FLASK,
}


@pytest.mark.parametrize(("fixture", "expected"), POETRY_CASES.items())
def test_poetry_lock_matches_trivy(fixture: str, expected: Expected) -> None:
    data = (LOCKS / "poetry" / fixture).read_bytes()
    assert found(parse_poetry_lock(data, where=fixture)) == expected


# --- poetry.lock of Poetry 1.5 to 1.8 with its pyproject.toml ---------------------------
# tests/data/python/poetry18 (see its README): the lock carries no categories or groups;
# the ground truth is `poetry export` of the main group and of every group.
POETRY18 = DATA / "python" / "poetry18"


def poetry_export(name: str) -> set[tuple[str, str]]:
    lines = (DATA / "python" / f"poetry18.export-{name}.txt").read_text().splitlines()
    pins_ = (line.partition(" ;")[0] for line in lines if line.strip() and line[0] != "-")
    return {(n, v) for n, _, v in (pin.partition("==") for pin in pins_)}


def poetry18_files() -> dict[str, bytes | str | None]:
    return {
        f"app/{name}": (POETRY18 / name).read_bytes() for name in ("poetry.lock", "pyproject.toml")
    }


def scan_found(layers: list[dict[str, bytes | str | None]]) -> Expected:
    inv = build_inventory(MemorySource(layers), [PythonCataloger()], ctx=FS, workers=1)
    return found(list(inv.packages))


def test_poetry18_lock_alone_marks_nothing() -> None:
    lock = (POETRY18 / "poetry.lock").read_bytes()
    tables = tomllib.loads(lock.decode())["package"]
    assert not any("category" in t or "groups" in t for t in tables)
    everything = poetry_export("all")
    assert found(parse_poetry_lock(lock, where="poetry.lock")) == dict.fromkeys(everything, False)


def test_poetry18_with_pyproject_marks_what_only_non_main_groups_need() -> None:
    with DirectorySource(POETRY18) as source:
        inv = build_inventory(source, [PythonCataloger()], ctx=FS, workers=1)
    got = found(list(inv.packages))
    main, everything = poetry_export("main"), poetry_export("all")
    assert set(got) == everything
    assert {key for key, dev in got.items() if not dev} == main
    # idna is in the dev group and needed by requests: production.
    assert got[("idna", "3.6")] is False
    assert got[("markdown", "3.5.2")] is True  # the optional docs group


def test_poetry18_pyproject_must_be_beside_the_lock_and_agree_with_it() -> None:
    unmarked = dict.fromkeys(poetry_export("all"), False)
    assert scan_found([poetry18_files(), {"app/pyproject.toml": None}]) == unmarked
    moved = poetry18_files()
    moved["elsewhere/pyproject.toml"] = moved.pop("app/pyproject.toml")
    assert scan_found([moved]) == unmarked
    disagreeing = poetry18_files()
    disagreeing["app/pyproject.toml"] = (
        (POETRY18 / "pyproject.toml")
        .read_text()
        .replace('requests = "2.31.0"', 'requests = "2.31.0"\nflask = "3.0.0"')
    )
    assert scan_found([disagreeing]) == unmarked


def test_lock_that_marks_dev_itself_ignores_pyproject() -> None:
    # Trivy's poetry_flask.lock (categories) beside poetry18's pyproject, which names
    # none of its packages: the lock's own marks stand.
    layer = {
        "app/poetry.lock": (LOCKS / "poetry" / "poetry_flask.lock").read_bytes(),
        "app/pyproject.toml": (POETRY18 / "pyproject.toml").read_bytes(),
    }
    assert scan_found([layer]) == POETRY_FLASK


def test_pyproject_of_another_build_tool_gives_nothing() -> None:
    ours = (Path(__file__).parents[2] / "pyproject.toml").read_bytes()
    assert parse_poetry_project(ours, where="pyproject.toml") is None
    poetry = parse_poetry_project((POETRY18 / "pyproject.toml").read_bytes(), where="p")
    assert poetry is not None
    assert poetry.production == ("requests",)
    assert set(poetry.development) == {"pytest", "idna", "markdown"}


# --- uv.lock: pkg/dependency/parser/python/uv/parse_testcase.go ------------------------

UV_NORMAL = pins(
    "normal 0.1.0",
    "httpx 0.28.1",
    "orjson 3.10.12",
    "pytest 8.3.4",
    "requests 2.32.0",
    "anyio 4.7.0",
    "certifi 2024.12.14",
    "charset-normalizer 3.4.0",
    "colorama 0.4.6",
    "exceptiongroup 1.2.2",
    "h11 0.14.0",
    "httpcore 1.0.7",
    "idna 3.10",
    "iniconfig 2.0.0",
    "packaging 24.2",
    "pluggy 1.5.0",
    "sniffio 1.3.1",
    "socksio 1.0.0",
    "tomli 2.2.1",
    "typing-extensions 4.12.2",
    "urllib3 2.2.3",
    dev=("pytest", "colorama", "iniconfig", "packaging", "pluggy", "tomli"),
)


def test_uv_lock_matches_trivy() -> None:
    data = (LOCKS / "uv" / "uv_normal.lock").read_bytes()
    assert found(parse_uv_lock(data, where="uv.lock")) == UV_NORMAL


@pytest.mark.parametrize("fixture", ["uv_without_root.lock", "uv_multiple_roots.lock"])
def test_uv_lock_needs_exactly_one_root_as_in_trivy(fixture: str) -> None:
    # Trivy: wantErr "uv lockfile must contain 1 root package".
    with pytest.raises(CatalogError, match="exactly 1 root package"):
        parse_uv_lock((LOCKS / "uv" / fixture).read_bytes(), where=fixture)


def test_uv_multiple_versions_of_one_name_follow_the_pinned_edge() -> None:
    lock = b"""
version = 1
[[package]]
name = "app"
version = "1.0"
source = { editable = "." }
dependencies = [{ name = "lib", version = "2.0" }]
[package.dev-dependencies]
dev = [{ name = "lib", version = "1.0" }]

[[package]]
name = "lib"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "lib"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
"""
    assert found(parse_uv_lock(lock, where="uv.lock")) == {
        ("app", "1.0"): False,
        ("lib", "1.0"): True,
        ("lib", "2.0"): False,
    }


# --- the cataloger: file selection and scan modes --------------------------------------


@pytest.mark.parametrize(
    ("path", "in_image", "in_filesystem"),
    [
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", True, True),
        ("usr/lib/python3/dist-packages/distlib-0.3.1.egg-info", True, True),
        ("opt/app/src/app.egg-info/PKG-INFO", True, True),
        ("opt/lib/thing-1.0-py3.8.egg/EGG-INFO/PKG-INFO", True, True),
        ("srv/app/requirements.txt", False, True),
        ("srv/app/requirements-dev.txt", False, True),
        ("srv/app/test-requirements.txt", False, True),
        ("srv/app/Pipfile.lock", False, True),
        ("srv/app/poetry.lock", False, True),
        ("uv.lock", False, True),
        # A lockfile shipped inside an installed distribution is its authors' own.
        ("usr/lib/python3.11/site-packages/foo/requirements.txt", False, False),
        ("srv/app/notes.txt", False, False),
        ("srv/app/METADATA", False, False),
        ("srv/app/Pipfile", False, False),
        ("srv/app/pyproject.toml", False, True),  # for poetry.lock's dev marks
        ("usr/lib/python3.11/site-packages/foo/pyproject.toml", False, False),
    ],
)
def test_wants(path: str, in_image: bool, in_filesystem: bool) -> None:
    cataloger = PythonCataloger()
    assert cataloger.wants(path, 100, 0o644, IMAGE) is in_image
    assert cataloger.wants(path, 100, 0o644, FS) is in_filesystem


def _layer() -> dict[str, bytes | str | None]:
    return {
        "usr/local/lib/python3.11/site-packages/zipp-3.12.1.dist-info/METADATA": (
            PACKAGING / "zipp-3.12.1.METADATA"
        ).read_bytes(),
        "usr/lib/python3/dist-packages/distlib-0.3.1.egg-info": (
            PACKAGING / "distlib-0.3.1-py3.9.egg-info"
        ).read_bytes(),
        "app/requirements.txt": (LOCKS / "pip" / "requirements_hyphens.txt").read_bytes(),
        "app/broken.dist-info/METADATA": b"Summary: no name here\n",
    }


def test_image_scan_reads_installed_metadata_only_and_warns_on_bad_files() -> None:
    warnings: list[str] = []
    inv = build_inventory(
        MemorySource([_layer()]), [PythonCataloger()], ctx=IMAGE, workers=1, warn=warnings.append
    )
    assert {(p.name, p.version, p.purl, p.cataloger) for p in inv.packages} == {
        ("zipp", "3.12.1", "pkg:pypi/zipp@3.12.1", "python"),
        ("distlib", "0.3.1", "pkg:pypi/distlib@0.3.1", "python"),
    }
    assert len(warnings) == 1
    assert warnings[0].startswith("app/broken.dist-info/METADATA: ")


def test_filesystem_scan_adds_requirement_files() -> None:
    inv = build_inventory(MemorySource([_layer()]), [PythonCataloger()], ctx=FS, workers=1)
    by_name = {p.name: p for p in inv.packages}
    assert set(by_name) == {"zipp", "distlib", "oauth2-client", "python-gitlab"}
    assert by_name["python-gitlab"].locations[0].path == "app/requirements.txt"
    assert by_name["zipp"].licenses == ("MIT License",)


# --- Trivy's e2e repositories (integration/testdata/*.json.golden) ---------------------


def golden_packages(name: str) -> set[tuple[str, str]]:
    report = json.loads((E2E / "golden" / f"{name}.json.golden").read_text())
    return {
        (pkg["Name"], pkg["Version"])
        for result in report["Results"]
        for pkg in result.get("Packages") or []
    }


@pytest.mark.parametrize("repo", ["pip", "pipenv", "poetry", "uv"])
def test_e2e_repository_matches_trivy_golden_report(repo: str) -> None:
    with DirectorySource(E2E / "repo" / repo) as source:
        inv = build_inventory(source, [PythonCataloger()], ctx=FS, workers=1)
    assert {(p.name, p.version) for p in inv.packages} == golden_packages(repo)
    assert not any(p.dev for p in inv.packages)


# --- real data: metadata pip and Debian wrote, as importlib.metadata reads it ----------

SITE_DIRECTORIES = {
    "this virtualenv (pip)": Path(sysconfig.get_paths()["purelib"]),
    "Debian's python3 packages": Path("/usr/lib/python3/dist-packages"),
}


@pytest.mark.parametrize("directory", SITE_DIRECTORIES.values(), ids=SITE_DIRECTORIES.keys())
def test_real_site_packages_match_importlib_metadata(directory: Path) -> None:
    if not directory.is_dir():
        pytest.skip(f"{directory} does not exist on this machine")
    truth = {
        (dist.metadata["Name"], dist.version)
        for dist in importlib.metadata.distributions(path=[str(directory)])
    }
    if not truth:
        pytest.skip(f"no distributions installed in {directory}")
    with DirectorySource(directory) as source:
        inv = build_inventory(source, [PythonCataloger()], ctx=IMAGE, workers=1)
    assert {(p.name, p.version) for p in inv.packages} == truth


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_pip_freeze_output_reads_back_as_the_installed_set() -> None:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if frozen.returncode != 0:
        pytest.skip(f"pip freeze failed: {frozen.stderr[-200:]!r}")
    site_packages = Path(sysconfig.get_paths()["purelib"])
    truth = {
        (_normalized(dist.metadata["Name"]), dist.version)
        for dist in importlib.metadata.distributions(path=[str(site_packages)])
    }
    got = found(parse_requirements(frozen.stdout, where="requirements.txt"))
    # Stockade itself is installed editable: pip freeze writes `-e <path>`, which pins nothing.
    assert {(_normalized(name), version) for name, version in got} == {
        (name, version) for name, version in truth if name != "stockade"
    }
