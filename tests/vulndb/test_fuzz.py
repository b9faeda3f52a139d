"""Every parser of feed documents is fed damaged input: only our declared error escapes.

Two kinds of input: arbitrary bytes, and real documents from ``tests/data/advisories``
with random parts replaced by random JSON values (wrong types, huge numbers, deep
nesting, odd strings), which reach much deeper into each parser than noise does.
Whatever a parser accepts must also survive the store's encoding unchanged.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.core.errors import StockadeError
from stockade.vulndb import AdvisoryStore, import_path
from stockade.vulndb.codec import decode, encode
from stockade.vulndb.importers import (
    IMPORTERS,
    AlpineSecdbImporter,
    DebianTrackerImporter,
    Importer,
    NodejsSecurityWgImporter,
    OsvImporter,
    RubySecImporter,
    importer_for,
)
from stockade.vulndb.reading import decode_document

DATA = Path(__file__).resolve().parent.parent / "data" / "advisories"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SAMPLES: dict[type[Importer], list[str]] = {
    OsvImporter: [
        "osv-go/data/osv/GO-2022-0969.json",
        "osv-pypi/vulns/pyyaml/PYSEC-2020-176.yaml",
        "osv-crates.io/crates/RUSTSEC-2016-0001.json",
        "osv-ghsa-sample/GHSA-jfh8-c2jp-5v3q.json",
        "debian-bookworm-changelog-derived/tar/CVE-2023-39804.json",
    ],
    DebianTrackerImporter: [
        "format-samples/vunnel/tests/unit/providers/debian/test-fixtures/input/debian.json"
    ],
    AlpineSecdbImporter: [
        "format-samples/vunnel/tests/unit/providers/alpine/test-fixtures/input/secdb/v3.15/main.yaml",
        "format-samples/vunnel/tests/unit/cli/test-fixtures/data-1/wolfi/input/secdb/os/security.json",
    ],
    RubySecImporter: [
        "rubysec/gems/actionpack/CVE-2008-7248.yml",
        "rubysec/gems/action_text-trix/GHSA-53p3-c7vp-4mcc.yml",
    ],
    NodejsSecurityWgImporter: [
        "nodejs-security-wg/vuln/npm/1.json",
        "nodejs-security-wg/vuln/npm/504.json",
    ],
}


def _load(relative: str) -> Any:
    raw = (DATA / relative).read_bytes()
    if relative.endswith((".yaml", ".yml")):
        # Re-encoded as JSON below, so dates become strings the way a JSON feed has them.
        return json.loads(json.dumps(yaml.safe_load(raw), default=str))
    return json.loads(raw)


DOCUMENTS = {kind: [_load(path) for path in paths] for kind, paths in SAMPLES.items()}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "",
            "0",
            "CVE-2024-1234",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N",
            "2024-02-30T00:00:00Z",
            "resolved",
            "open",
            "ECOSYSTEM",
            "GIT",
            "bookworm",
            "v3.18",
            "x" * 2000,
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "affected",
                    "package",
                    "ranges",
                    "events",
                    "introduced",
                    "fixed",
                    "versions",
                    "severity",
                    "type",
                    "score",
                    "releases",
                    "status",
                    "fixed_version",
                    "packages",
                    "pkg",
                    "secfixes",
                    "name",
                    "gem",
                    "cve",
                    "module_name",
                    "vulnerable_versions",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _mutate(document: Any, data: st.DataObject, depth: int = 0) -> Any:
    """The document with some subtrees replaced by random values."""
    if depth > 0 and data.draw(st.integers(0, 9)) == 0:
        return data.draw(json_values)
    if isinstance(document, dict):
        return {key: _mutate(value, data, depth + 1) for key, value in document.items()}
    if isinstance(document, list):
        return [_mutate(value, data, depth + 1) for value in document[:6]]
    return document


def _only_our_error(importer: Importer, raw: bytes, name: str) -> None:
    try:
        advisories = importer.parse_bytes(raw, name=name)
    except StockadeError:
        return
    for advisory in advisories:
        assert decode(encode(advisory)) == advisory


@pytest.mark.parametrize("importer", IMPORTERS, ids=lambda importer: importer.format)
@FUZZ
@given(raw=st.binary(max_size=512), suffix=st.sampled_from([".json", ".yaml"]))
def test_arbitrary_bytes(importer: Importer, raw: bytes, suffix: str) -> None:
    _only_our_error(importer, raw, f"doc{suffix}")


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.format)
@FUZZ
@given(data=st.data())
def test_mutated_real_documents(kind: type[Importer], data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(DOCUMENTS[kind]))
    document = _mutate(original, data)
    raw = json.dumps(document).encode()
    (importer,) = [i for i in IMPORTERS if isinstance(i, kind)]
    _only_our_error(importer, raw, "doc.json")
    # The format sniffing on the same document must not fail either.
    importer_for(document)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!,'\"\n #|>0.")), max_size=200))
def test_yaml_syntax_soup(text: str) -> None:
    with contextlib.suppress(StockadeError):
        decode_document(text.encode(), "doc.yaml")


@FUZZ
@given(raw=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"PK\x03\x04"]))
def test_damaged_zip_archives_never_raise(tmp_path: Path, raw: bytes, prefix: bytes) -> None:
    archive = tmp_path / "all.zip"
    archive.write_bytes(prefix + raw)
    with AdvisoryStore.open(tmp_path / "db.sqlite") as store:
        import_path(store, archive, warn=lambda message: None)


@FUZZ
@given(data=st.data())
def test_zip_with_damaged_members(tmp_path: Path, data: st.DataObject) -> None:
    archive = tmp_path / "all.zip"
    real = (DATA / "osv-go/data/osv/GO-2022-0969.json").read_bytes()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("GO-2022-0969.json", real)
        out.writestr("noise.json", data.draw(st.binary(max_size=256)))
    blob = bytearray(archive.read_bytes())
    # Flip a few bytes anywhere: headers, sizes, compressed data.
    for _ in range(data.draw(st.integers(0, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    archive.write_bytes(bytes(blob))
    with AdvisoryStore.open(tmp_path / "db.sqlite") as store:
        import_path(store, archive, warn=lambda message: None)
