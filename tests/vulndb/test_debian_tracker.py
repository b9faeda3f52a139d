from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockade.core.advisory import Advisory, EventKind, FixState, Severity
from stockade.vulndb import InvalidAdvisory
from stockade.vulndb.importers import DebianTrackerImporter, importer_for

tracker = DebianTrackerImporter()
SAMPLE = "format-samples/vunnel/tests/unit/providers/debian/test-fixtures/input/debian.json"


def _by_id(advisories: list[Advisory]) -> dict[str, Advisory]:
    return {advisory.id: advisory for advisory in advisories}


def _release(advisory: Advisory, ecosystem: str):  # type: ignore[no-untyped-def]
    (entry,) = [e for e in advisory.affected if e.ecosystem == ecosystem]
    return entry


def test_the_real_tracker_sample(data: Path) -> None:
    raw = (data / SAMPLE).read_bytes()
    assert importer_for(json.loads(raw)) is not None
    advisories = _by_id(tracker.parse_bytes(raw, name="debian.json"))
    # chromium-browser's issue lists no release, so there is nothing to record.
    assert sorted(advisories) == [
        "CVE-2005-3111",
        "CVE-2007-2383",
        "CVE-2008-7220",
        "CVE-2013-1444",
        "CVE-2022-0456",
        "CVE-2025-53603",
    ]
    assert {a.source for a in advisories.values()} == {"debian-tracker"}

    prototype = advisories["CVE-2008-7220"]
    assert prototype.details.startswith("Unspecified vulnerability in Prototype JavaScript")
    stretch = _release(prototype, "Debian:9")
    assert stretch.name == "prototypejs"
    assert stretch.fix_state is FixState.FIXED
    assert stretch.fixed_versions == ("1.6.0.2-1",)
    assert stretch.ranges[0].values(EventKind.FIXED) == ("1.6.0.2-1",)
    # "high**": an urgency taken from NVD, still high.
    assert stretch.severity is Severity.HIGH
    assert prototype.severity is Severity.HIGH
    assert "https://bugs.debian.org/555217" in [r.url for r in prototype.references]
    assert {e.ecosystem for e in prototype.affected} == {
        "Debian:8",
        "Debian:9",
        "Debian:10",
        "Debian:sid",
    }

    # fixed_version "0": the tracker's <not-affected>.
    not_affected = _release(advisories["CVE-2007-2383"], "Debian:10")
    assert not_affected.fix_state is FixState.NOT_AFFECTED
    assert not_affected.ranges == ()
    assert not_affected.severity is Severity.NEGLIGIBLE

    chromium = advisories["CVE-2022-0456"]
    assert _release(chromium, "Debian:12").fixed_versions == ("98.0.4758.80-1",)
    assert _release(chromium, "Debian:11").fixed_versions == ("98.0.4758.80-1~deb11u1",)
    # Open in a release past its end of life: no fix is coming.
    buster = _release(chromium, "Debian:10")
    assert buster.fix_state is FixState.WONT_FIX
    assert buster.ranges[0].values(EventKind.INTRODUCED) == ("0",)
    assert buster.severity is None
    assert buster.database_specific == {"status": "open", "urgency": "end-of-life"}

    sope = advisories["CVE-2025-53603"]
    assert _release(sope, "Debian:12").fixed_versions == ("5.8.0-1+deb12u1",)
    assert _release(sope, "Debian:13").fix_state is FixState.FIXED


def _tracker(releases: dict[str, object]) -> bytes:
    return json.dumps(
        {"zlib": {"CVE-2023-45853": {"description": "MiniZip overflow", "releases": releases}}}
    ).encode()


@pytest.mark.parametrize(
    ("state", "fix_state", "severity"),
    [
        ({"status": "open", "urgency": "low"}, FixState.NOT_FIXED, Severity.LOW),
        (
            {"status": "open", "urgency": "unimportant", "nodsa": "Minor issue"},
            FixState.WONT_FIX,
            Severity.NEGLIGIBLE,
        ),
        ({"status": "open", "nodsa": "", "nodsa_reason": "ignored"}, FixState.WONT_FIX, None),
        ({"status": "open", "nodsa_reason": "postponed"}, FixState.WONT_FIX, None),
        ({"status": "undetermined", "urgency": "not yet assigned"}, FixState.UNKNOWN, None),
        ({"status": "resolved", "fixed_version": "0"}, FixState.NOT_AFFECTED, None),
    ],
)
def test_release_states(
    state: dict[str, str], fix_state: FixState, severity: Severity | None
) -> None:
    (advisory,) = tracker.parse_bytes(_tracker({"trixie": state}), name="t.json")
    (entry,) = advisory.affected
    assert (entry.ecosystem, entry.name) == ("Debian:13", "zlib")
    assert entry.fix_state is fix_state
    assert entry.severity is severity
    assert entry.fixed_versions == ()


def test_one_bad_issue_does_not_cost_the_others() -> None:
    notes: list[str] = []
    raw = json.dumps(
        {
            "zlib": {
                "CVE-2023-1": {"releases": {"bookworm": {"status": "exploded"}}},
                "CVE-2023-2": {"releases": {"bookworm": {"status": "open"}}},
                "CVE-2023-3": "not a mapping",
            },
            "bash": ["wrong"],
        }
    ).encode()
    advisories = tracker.parse_bytes(raw, name="t.json", warn=notes.append)
    assert [a.id for a in advisories] == ["CVE-2023-2"]
    assert len(notes) == 3
    assert all(note.startswith("t.json: skipped") for note in notes)


def test_unknown_codenames_are_left_out() -> None:
    (advisory,) = tracker.parse_bytes(
        _tracker({"bookworm": {"status": "open"}, "hurd": {"status": "open"}}), name="t.json"
    )
    assert [e.ecosystem for e in advisory.affected] == ["Debian:12"]


def test_a_document_that_is_not_a_tracker() -> None:
    with pytest.raises(InvalidAdvisory, match="not a debian-tracker document"):
        tracker.parse_bytes(b'{"a": 1}', name="x.json")
