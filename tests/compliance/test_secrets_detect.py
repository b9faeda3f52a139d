"""The detection core: keyword pre-filter, entropy, secret groups, allowlists, inline
allows, composite rules, redaction — and the Python engine's anchored search finding
exactly what a full scan finds."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.compliance.secrets import Detector, parse_rules, redact, scan_text, shannon_entropy
from stockade.compliance.secrets.config import default_rules
from stockade.compliance.secrets.engine import (
    Deadline,
    DeadlineExceeded,
    PythonEngine,
    PythonPattern,
    ScanText,
    re2_available,
)
from stockade.compliance.secrets.syntax import parse

ENGINES = [
    "python",
    pytest.param(
        "re2", marks=pytest.mark.skipif(not re2_available(), reason="google-re2 not installed")
    ),
]
AWS = "AKIALALEMEL33243OLIA"  # gitleaks' own test key, not a live one


def rule_ids(text: str, toml: str, engine: str = "python", path: str = "f.txt") -> list[str]:
    detector = Detector(parse_rules(toml), engine)
    return [d.rule.id for d in detector.detect(text, path)]


def test_entropy_and_redaction():
    assert shannon_entropy("") == 0
    assert shannon_entropy("aaaa") == 0
    assert shannon_entropy("ab") == 1
    assert redact("AKIALALEMEL33243OLIA") == "AKIA****"
    assert redact("abcdefgh") == "ab****"
    assert redact("abc") == "****"


@pytest.mark.parametrize("engine", ENGINES)
def test_default_rules_find_common_secrets(engine: str):
    pem = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "MIIEowIBAAKCAQEA7x9" * 5
        + "\n-----END RSA PRIVATE KEY-----"
    )
    text = (
        f'aws_key = "{AWS}"\n'
        "token: ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ3b5D" + "\n"
        + pem + "\n"
        'password = "changeit"\n'
    )  # fmt: skip
    found = scan_text(text, "app/settings.py", engine=engine)
    by_rule = {f.rule_id: f for f in found}
    assert set(by_rule) == {"aws-access-token", "github-pat", "private-key"}
    assert by_rule["aws-access-token"].line == 1
    assert by_rule["aws-access-token"].redacted == "AKIA****"
    assert by_rule["github-pat"].line == 2
    assert by_rule["private-key"].line == 3
    assert all(AWS not in f.redacted and "ghp_aB3d" not in f.redacted for f in found)


def test_keyword_prefilter_skips_rules_without_their_keyword():
    toml = '[[rules]]\nid = "k"\nregex = "secret"\nkeywords = ["magic"]\n'
    assert rule_ids("a secret here", toml) == []
    assert rule_ids("a secret here, MAGIC", toml) == ["k"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keywords=st.lists(st.text(alphabet="abc-", min_size=1, max_size=4), min_size=1, max_size=8),
    text=st.text(alphabet="abc-x", max_size=60),
)
def test_python_keyword_index_finds_exactly_the_keywords_present(keywords: list[str], text: str):
    index = PythonEngine().keyword_index(keywords)
    assert index.present(text) == {k for k in keywords if k in text}


def test_secret_group_entropy_and_stopwords():
    toml = """
[[rules]]
id = "discord"
regex = '''(?i)(discord[a-z0-9_ .\\-,]{0,25})(=|>|:=|\\|\\|:|<=|=>|:).{0,5}['"]([a-h0-9]{64})['"]'''
secretGroup = 3
entropy = 3.5
[[rules.allowlists]]
stopwords = ["deadbeef"]
"""
    good = "discord_key = '" + "0123456789abcdefgh" * 3 + "0123456789" + "'"
    detector = Detector(parse_rules(toml), "python")
    (found,) = detector.detect(good, "x")
    assert found.secret == ("0123456789abcdefgh" * 3 + "0123456789")[:64]
    assert found.entropy is not None
    assert found.entropy > 3.5
    low = "discord_key = '" + "a" * 64 + "'"
    assert detector.detect(low, "x") == []
    stop = "discord_key = '" + "deadbeef" * 8 + "'"
    assert detector.detect(stop, "x") == []


@pytest.mark.parametrize(
    ("target", "allow", "text", "reported"),
    [
        ("secret", "^AKIA", f"key {AWS}", False),
        ("secret", "^key", f"key {AWS}", True),  # the secret is the group, without "key"
        ("match", "key", f"key {AWS}", False),
        ("line", "ignore-me", f"key {AWS} ignore-me", False),
        ("line", "ignore-me", f"key {AWS}\nignore-me", True),
        ("secret", "ignore-me", f"key {AWS} ignore-me", True),
    ],
)
def test_allowlist_regex_targets(target: str, allow: str, text: str, reported: bool):
    toml = (
        f"[[rules]]\nid = 'aws'\nregex = '''key (AKIA[A-Z0-9]{{16}})|key AKIA[A-Z0-9]{{16}}'''\n"
        f"[[rules.allowlists]]\nregexTarget = '{target}'\nregexes = ['''{allow}''']\n"
    )
    assert (rule_ids(text, toml) == ["aws"]) is reported


def test_allowlist_conditions_and_paths():
    base = f"[[rules]]\nid = 'aws'\nregex = '''{AWS}'''\n"
    or_path = base + "[[rules.allowlists]]\npaths = ['''\\.go$''']\nregexes = ['''nope''']\n"
    assert rule_ids(AWS, or_path, path="main.go") == []
    assert rule_ids(AWS, or_path, path="main.py") == ["aws"]
    and_path = base + (
        "[[rules.allowlists]]\ncondition = 'AND'\npaths = ['''\\.go$''']\nstopwords = ['lalem']\n"
    )
    assert rule_ids(AWS, and_path, path="main.go") == []
    assert rule_ids(AWS, and_path, path="main.py") == ["aws"]
    commits = base + "[[rules.allowlists]]\ncommits = ['abc']\n"
    assert rule_ids(AWS, commits) == ["aws"]  # no commit outside git history
    global_list = base + "[[allowlists]]\ndescription = 'fixtures'\npaths = ['''^test/''']\n"
    detector = Detector(parse_rules(global_list), "python")
    assert detector.file_allowed("test/x.txt")
    assert not detector.file_allowed("src/x.txt")


def test_inline_allow_comment_and_rule_path():
    toml = f"[[rules]]\nid = 'aws'\nregex = '''{AWS}'''\npath = '''\\.env$'''\n"
    assert rule_ids(f"X={AWS}", toml, path="prod.env") == ["aws"]
    assert rule_ids(f"X={AWS}  # gitleaks:allow", toml, path="prod.env") == []
    assert rule_ids(f"X={AWS}", toml, path="prod.txt") == []


def test_path_only_rule_reports_the_file():
    detector = Detector(parse_rules("[[rules]]\nid = 'p12'\npath = '''\\.p12$'''\n"), "python")
    (found,) = detector.detect_path("certs/client.p12")
    assert (found.rule.id, found.line, found.redacted) == ("p12", 0, "")
    assert detector.detect_path("certs/client.pem") == []


def test_generic_finding_gives_way_to_a_specific_one():
    text = f'aws_secret_key_id = "{AWS}"'
    found = Detector(default_rules(), "python").detect(text, "config.ini")
    assert [d.rule.id for d in found] == ["aws-access-token"]


def test_composite_rule_needs_its_companion_nearby():
    toml = """
[[rules]]
id = "password"
regex = 'password\\s*=\\s*"([^"]+)"'
[[rules.required]]
id = "username"
withinLines = 1
[[rules]]
id = "username"
regex = 'username\\s*=\\s*"([^"]+)"'
skipReport = true
"""
    near = 'username = "admin"\npassword = "hunter2-x9"\n'
    far = 'username = "admin"\n\n\npassword = "hunter2-x9"\n'
    alone = 'password = "hunter2-x9"\n'
    assert rule_ids(near, toml) == ["password"]
    assert rule_ids(far, toml) == []
    assert rule_ids(alone, toml) == []


def test_line_numbers_count_from_the_fragment_start():
    toml = f"[[rules]]\nid = 'aws'\nregex = '''{AWS}'''\n"
    detector = Detector(parse_rules(toml), "python")
    (found,) = detector.detect(f"a\nb\n  {AWS}\n", "x", first_line=101)
    assert (found.line, found.column) == (103, 3)


def test_detection_repr_never_shows_the_secret():
    toml = "[[rules]]\nid = 'aws'\nregex = '''AKIA[A-Z0-9]{16}'''\n"
    (found,) = Detector(parse_rules(toml), "python").detect(AWS, "x")
    assert AWS not in repr(found)


def test_deadline_stops_the_python_engine():
    pattern = PythonPattern(parse(r"[\w.-]{0,50}?(?:key)[ \t]{0,20}=x"))
    text = ScanText("key " * 200_000)
    with pytest.raises(DeadlineExceeded):
        list(pattern.finditer(text, Deadline(0.0)))


# --- anchored search equals a full scan -------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "key", "api", "(?i)tok", "[\\w.-]{0,5}?", "[\\w.-]{0,5}", "\\s*", "[a-c]{2}", "=", "\\b",
        "(?:ab|ba)", "(?:x|y)+", "[^=]", ".", "(?i)", "K", "_", "(pa)?ss", "\\d{1,3}",
        "(?:KE[A-Z]|api)", "(?:to\\w+|ke)", "[a-z]{2,}", "\\w+",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(_PIECES, min_size=1, max_size=7),
    text=st.text(alphabet="keyapitoKEYAPITOab=_ x.-\n1\u212a", max_size=80),
)
def test_anchored_search_finds_what_a_full_scan_finds(pieces: list[str], text: str):
    source = "".join(pieces)
    try:
        regex = parse(source)
    except Exception:
        return
    pattern = PythonPattern(regex)
    if pattern._anchor is None:
        return
    full = re.compile(pattern._re.pattern, re.ASCII)
    expected = []
    pos = 0
    while pos <= len(text):
        match = full.search(text, pos)
        if match is None:
            break
        if match.end() == match.start():
            pos = match.end() + 1
            continue
        expected.append((match.span(), match.groups()))
        pos = match.end()
    got = [((h.start, h.end), h.groups) for h in pattern.finditer(ScanText(text))]
    assert got == expected


@pytest.mark.skipif(not re2_available(), reason="google-re2 is not installed")
def test_engines_agree_on_non_ascii_text():
    rules = parse_rules("[[rules]]\nid = 'aws'\nregex = '''k(ey)? (AKIA[A-Z0-9]{16})'''\n")
    text = f"héllo wörld\nkey {AWS} ünï k AKIAQWERTYUIOPASDFGH\n\ud800 k {AWS}"

    def run(engine: str) -> list[tuple[int, int, str, str]]:
        found = Detector(rules, engine).detect(text, "x")
        return [(d.line, d.column, d.secret, d.match) for d in found]

    assert run("re2") == run("python")
    assert [(line, column) for line, column, _, _ in run("re2")] == [(2, 1), (2, 30), (3, 3)]
