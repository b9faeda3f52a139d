"""Agreement with detect-secrets on its own test files, with gitleaks' default rules.

detect-secrets' tests say which lines of ``test_data/`` hold secrets (``DETECT_SECRETS``
below, each with the test that says so). The two tools look for different things:
detect-secrets flags any high-entropy string and any value after a password-like key,
with thresholds its tests lower to 3.0; gitleaks' rules want a provider's token format,
or a key name plus an entropy above 3.5. ``EXPECTED`` is what Stockade reports; every
difference is listed with its reason in docs/secrets.md, and the counts here keep that
page honest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.artifact.rootfs import DirectorySource
from stockade.compliance.secrets import ScanOptions, load_rules, scan_source
from stockade.compliance.secrets.engine import re2_available

TEST_DATA = Path(__file__).resolve().parent.parent / "data" / "secrets" / "detect-secrets"

# file -> lines detect-secrets' tests expect a secret on (test that says so)
DETECT_SECRETS: dict[str, set[int]] = {
    # core/secrets_collection_test: test_file_based_success_unexpected_config_file
    "config.env": {1},
    "config.ini": {2, 10, 21, 22, 32},  # test_file_based_success_config (limit 3.0)
    "config.md": {10},  # plugins/high_entropy_strings_test: test_ini_file
    "config.yaml": {3, 5, 13},  # test_file_based_success_yaml (hex limit 3.0)
    "files/private_key": {1},  # pre_commit_hook_test (PrivateKeyDetector)
    "sample.diff": {10, 22, 34, 72},  # TestScanDiff.test_success
    "short_files/first_line.php": {1},  # main_test: test_audit_short_file
    "short_files/last_line.ini": {5},
    "short_files/middle_line.yml": {4},
}
# files detect-secrets' tests treat as holding no secret
DETECT_SECRETS_CLEAN = {
    "only_comments.yaml",  # test_file_based_yaml_only_comments
    "word_list.txt",  # a word list of non-secrets (--word-list)
    "performance/best-songs.txt",
    "performance/long-file.test.json",
    "performance/long-lines.test.json",
}
# lines detect-secrets' tests say are not secrets although they look like some
DETECT_SECRETS_NOT = {
    "config.ini": {26, 33},  # pragma: allowlist secret; an id (is_likely_id_string)
    "config.yaml": {12, 16, 18},  # pragma; an id; a UUID
}

# What Stockade finds with gitleaks' default rules: file -> {line: rule}
EXPECTED: dict[str, dict[int, str]] = {
    "config.ini": {32: "generic-api-key"},
    "config.md": {10: "generic-api-key"},
    "files/private_key": {1: "private-key"},
    "sample.diff": {72: "generic-api-key"},
    # detect-secrets' own baseline: SHA-1 digests of secrets next to "hashed_secret"
    "baseline.file": {
        line: "generic-api-key"
        for line in (64, 72, 78, 84, 92, 100, 106, 112, 118, 126, 132, 140, 146, 164, 170,
                     176, 184, 200, 206, 214, 220, 226, 232, 240, 248, 256)
    },
}  # fmt: skip


@pytest.fixture(scope="module", params=["python", "re2"])
def findings(request: pytest.FixtureRequest) -> dict[str, dict[int, str]]:
    if request.param == "re2" and not re2_available():
        pytest.skip("google-re2 is not installed")
    result = scan_source(
        DirectorySource(TEST_DATA / "test_data"),
        load_rules(),
        options=ScanOptions(engine=request.param),
    )
    found: dict[str, dict[int, str]] = {}
    for f in result.findings:
        found.setdefault(f.file, {})[f.line] = f.rule_id
    return found


def test_stockade_findings_are_the_expected_ones(findings: dict[str, dict[int, str]]):
    assert findings == EXPECTED


def test_agreement_with_detect_secrets(findings: dict[str, dict[int, str]]):
    positives = {(file, line) for file, lines in DETECT_SECRETS.items() for line in lines}
    ours = {(file, line) for file, lines in findings.items() for line in lines}
    agreed = positives & ours
    assert sorted(agreed) == [
        ("config.ini", 32), ("config.md", 10), ("files/private_key", 1), ("sample.diff", 72),
    ]  # fmt: skip
    assert len(positives) == 18  # docs/secrets.md: 4 of 18 found
    # No false positive on what detect-secrets' tests call clean …
    assert not {file for file, _ in ours} & DETECT_SECRETS_CLEAN
    assert not {(f, line) for f, lines in DETECT_SECRETS_NOT.items() for line in lines} & ours
    # … and the only findings outside its positives are its own baseline's digests.
    assert {file for file, _ in ours - positives} == {"baseline.file"}


def test_licence_is_kept_beside_the_data():
    assert "Apache License" in (TEST_DATA / "LICENSE").read_text(encoding="utf-8")
