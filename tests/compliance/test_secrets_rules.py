"""Loading gitleaks-format rules: gitleaks' own config fixtures, the default rule set, and
a fuzzed loader from which only our declared error escapes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.compliance import secrets
from stockade.compliance.secrets import (
    Condition,
    Detector,
    RegexTarget,
    RuleError,
    default_rules,
    default_rules_path,
    load_rules,
    parse_rules,
)
from stockade.compliance.secrets.engine import re2_available
from stockade.core.errors import StockadeError

DATA = Path(__file__).resolve().parent.parent / "data" / "secrets"
GITLEAKS = DATA / "gitleaks" / "testdata"


@pytest.fixture
def in_gitleaks_testdata(monkeypatch: pytest.MonkeyPatch) -> Path:
    """gitleaks' fixtures name their bases ``../testdata/config/…``, from a sibling dir."""
    monkeypatch.chdir(GITLEAKS)
    return GITLEAKS / "config"


def load(name: str) -> secrets.RuleSet:
    return load_rules(f"config/{name}.toml")


def test_public_names_are_exported():
    assert set(secrets.__all__) == {n for n in dir(secrets) if not n.startswith("_")} - {
        "config", "detect", "engine", "errors", "model", "scan", "syntax", "anchors",
    }  # fmt: skip


# --- the default rules -----------------------------------------------------------------------


def test_default_rules_are_gitleaks_config_with_its_licence():
    path = default_rules_path()
    assert path.name == "gitleaks.toml"
    assert "MIT License" in (path.parent / "gitleaks-LICENSE").read_text(encoding="utf-8")
    rules = default_rules()
    assert len(rules) == 222
    assert rules.warnings == ()
    assert rules.source == "default"
    assert rules.rule("aws-access-token") is not None
    generic = rules.rule("generic-api-key")
    assert generic is not None
    assert generic.entropy == 3.5
    assert len(generic.allowlists) == 4
    assert generic.allowlists[1].regex_target is RegexTarget.MATCH
    assert rules.allowlists[0].paths[0] == r"gitleaks\.toml"
    assert load_rules() is rules  # loaded once


@pytest.mark.parametrize("engine", ["python", pytest.param("re2", marks=pytest.mark.skipif(
    not re2_available(), reason="google-re2 is not installed"))])  # fmt: skip
def test_every_default_rule_compiles(engine: str):
    detector = Detector(default_rules(), engine)
    assert detector.engine.name == engine


# --- gitleaks' valid fixtures (expected values from gitleaks' config_test.go) ---------------


def test_rule_fixtures(in_gitleaks_testdata: Path):
    generic = load("generic").rules[0]
    assert generic.id == "generic-api-key"
    assert generic.entropy == 3.5
    assert generic.keywords == (
        "key", "api", "token", "secret", "client", "passwd", "password", "auth", "access",
    )  # fmt: skip
    path_only = load("valid/rule_path_only").rules[0]
    assert (path_only.id, path_only.path, path_only.regex) == ("python-files-only", ".py", None)
    escaped = load("valid/rule_regex_escaped_character_group").rules[0]
    assert escaped.regex == r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9\-_]{50,1000}"
    assert escaped.tags == ("key", "pypi")
    discord = load("valid/rule_entropy_group").rules[0]
    assert (discord.secret_group, discord.entropy) == (3, 3.5)


def test_global_allowlist_fixtures(in_gitleaks_testdata: Path):
    old = load("valid/allowlist_global_old_compat")
    assert old.rules == ()
    assert old.allowlists[0].stopwords == ("0989c462-69c9-49fa-b7d2-30dc5c576a97",)
    multiple = load("valid/allowlist_global_multiple")
    assert [a.regexes for a in multiple.allowlists] == [("^changeit$",), ()]
    assert multiple.allowlists[1].condition is Condition.AND
    assert multiple.allowlists[1].paths == ("^node_modules/.*",)
    assert multiple.allowlists[1].stopwords == ("mock",)
    targeted = load("valid/allowlist_global_target_rules")
    assert [a.regexes for a in targeted.allowlists] == [(".*fake.*",)]
    octokit = (r"(?:^|/)@octokit/auth-token/README\.md$",)
    by_id = {r.id: r for r in targeted.rules}
    assert [a.paths for a in by_id["github-app-token"].allowlists] == [octokit]
    assert [a.paths for a in by_id["github-pat"].allowlists] == [octokit]
    assert by_id["github-oauth"].allowlists == ()
    regex = load("valid/allowlist_global_regex")
    assert regex.allowlists[0].regexes == ("AKIALALEM.L33243OLIA",)


def test_rule_allowlist_fixtures(in_gitleaks_testdata: Path):
    old = load("valid/allowlist_rule_old_compat").rules[0]
    assert old.allowlists[0].regexes == ("123",)
    regex = load("valid/allowlist_rule_regex")
    assert regex.title == "simple config with allowlist for aws"
    assert regex.rules[0].allowlists[0].regexes == ("AKIALALEMEL33243OLIA",)
    commit = load("valid/allowlist_rule_commit").rules[0]
    assert commit.allowlists[0].commits == ("allowthiscommit",)
    path = load("valid/allowlist_rule_path").rules[0]
    assert path.allowlists[0].paths == (".go",)


def test_extend_fixtures(in_gitleaks_testdata: Path):
    extend = load("valid/extend")
    assert [r.id for r in extend.rules] == [
        "aws-access-key", "aws-secret-key", "aws-secret-key-again",
    ]  # fmt: skip
    assert any("at most 2 levels" in w for w in extend.warnings)
    disabled = load("valid/extend_disabled")
    assert [r.id for r in disabled.rules] == ["aws-secret-key", "pypi-upload-token"]
    assert disabled.title == "gitleaks extend disable"
    no_regex = load("valid/extend_rule_no_regexpath").rules[0]
    assert no_regex.regex is not None
    assert no_regex.allowlists[0].paths == ("something.py",)
    assert no_regex.allowlists[0].description.startswith("False positive.")


@pytest.mark.parametrize(
    ("name", "field", "expected"),
    [
        ("description", "description", "Puppy Doggy"),
        ("path", "path", "(?:puppy)"),
        ("regex", "regex", "(?:a)"),
        ("entropy", "entropy", 999.0),
        ("keywords", "keywords", ("puppy",)),
        ("tags", "tags", ("key", "AWS", "puppy")),
    ],
)
def test_extend_overrides_one_field(in_gitleaks_testdata: Path, name: str, field: str, expected):
    rules = load(f"valid/extend_rule_override_{name}")
    rule = rules.rule("aws-access-key")
    assert rule is not None
    assert getattr(rule, field) == expected
    assert rule.description == ("Puppy Doggy" if name == "description" else "AWS Access Key")


def test_extend_overrides_secret_group(in_gitleaks_testdata: Path):
    rule = load("valid/extend_rule_override_secret_group").rule("aws-access-key")
    assert rule is not None
    assert (rule.regex, rule.secret_group) == ("(a)(a)", 2)


@pytest.mark.parametrize("condition", ["or", "and"])
def test_extend_appends_rule_allowlists(in_gitleaks_testdata: Path, condition: str):
    rules = load(f"valid/extend_rule_allowlist_{condition}")
    assert rules.title == "gitleaks extended 3"
    base, added = rules.rules[0].allowlists
    assert base.stopwords == ("fake",)
    assert added.condition is (Condition.AND if condition == "and" else Condition.OR)
    assert added.commits == ("abcdefg1",)
    assert added.paths == (r"ignore\.xaml",)
    assert added.regexes == ("foo.+bar",)
    assert added.regex_target is RegexTarget.LINE
    assert added.stopwords == ("example",)


def test_extended_keywords_are_lowercased(in_gitleaks_testdata: Path):
    rule = load("valid/extend_base_rule_including_keywords_with_attribute").rules[0]
    assert (rule.description, rule.keywords) == ("A new description", ("aws",))
    # A new rule with neither regex nor path loads (as in gitleaks) and is dropped, said so.
    new = load("valid/extend_rule_new")
    assert new.rule("aws-rule-that-is-not-in-base") is None
    assert any("no effect" in w for w in new.warnings)


def test_extend_default_keeps_the_default_rules(in_gitleaks_testdata: Path):
    rules = load("valid/allowlist_rule_extend_default")
    assert len(rules) == len(default_rules())
    generic = rules.rule("generic-api-key")
    assert generic is not None
    assert generic.allowlists[-1].paths == (r"^path/to/your/problematic/file\.js$",)


# --- gitleaks' invalid fixtures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "rule_id"),
    [
        ("allowlist_global_empty", "must contain at least one check for", None),
        ("allowlist_global_old_and_new", "[allowlist] is deprecated", None),
        ("allowlist_global_regextarget", "unknown allowlist |regexTarget| 'mtach'", None),
        ("allowlist_global_target_rule_id", "target rule ID 'github-pat' does not exist", None),
        ("allowlist_rule_empty", "must contain at least one check for", "example"),
        ("allowlist_rule_old_and_new", "[rules.allowlist] is deprecated", "example"),
        ("allowlist_rule_regextarget", "unknown allowlist |regexTarget| 'mtach'", "example"),
        ("extend_invalid_base", "does_not_exist.toml", None),
        ("extend_invalid_ruleid", "rule |id| is missing or empty", None),
        ("rule_bad_entropy_group", "invalid regex secret group 5, max regex secret group 3",
         "discord-api-key"),
        ("rule_missing_id", "rule |id| is missing or empty, regex: (?i)(discord", None),
        ("rule_no_regex_or_path", "both |regex| and |path| are empty", "discord-api-key"),
    ],
)  # fmt: skip
def test_invalid_fixtures_are_refused(
    in_gitleaks_testdata: Path, name: str, message: str, rule_id: str | None
):
    with pytest.raises(RuleError) as caught:
        load(f"invalid/{name}")
    assert message in caught.value.message
    assert caught.value.rule_id == rule_id
    assert f"invalid/{name}.toml" in caught.value.message
    assert caught.value.hint


# --- our own checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[rules]]\nid = "x"\nregex = "a(?=b)"', "lookahead"),
        ('[[rules]]\nid = "x"\nregex = "a"\npath = "(("', "missing closing )"),
        ('[[rules]]\nid = "x"\nregex = "a"\nkeywords = 3', "list of strings"),
        ('[[rules]]\nid = "x"\nregex = "a"\nentropy = "high"', "must be a number"),
        ('[[rules]]\nid = "x"\nregex = "a"\nentropy = -1', "must not be negative"),
        ('[[rules]]\nid = "x"\nregex = "a"\nsecretGroup = -1', "secret group -1"),
        ('[[rules]]\nid = "x"\nregex = "a"\n[[rules.allowlists]]\nregexes = ["["]', "regexes"),
        ('[[rules]]\nid = "x"\nregex = "a"\n[[rules.allowlists]]\ncondition = "xor"\n'
         'regexes = ["a"]', "condition"),
        ('[[rules]]\nid = "x"\nregex = "a"\n[[rules.required]]\nid = "y"', "'y' does not exist"),
        ("[extend]\nuseDefault = true\npath = 'x.toml'", "extend.path and extend.useDefault"),
        ("rules = 3", "array of tables"),
        ("[[rules]]\nid = 'x'\nregex = 'a'\n[[rules]]\nid = 'x'\nregex = '", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_rules_raise_rule_error_naming_the_rule(toml: str, message: str):
    with pytest.raises(RuleError, match=None) as caught:
        parse_rules(toml, source="team.toml")
    assert message in caught.value.message
    assert caught.value.message.startswith("team.toml: ")
    if "rule 'x'" in caught.value.message:
        assert caught.value.rule_id == "x"


def test_keys_are_read_in_any_case_and_unknown_keys_warn():
    rules = parse_rules(
        '[[rules]]\nID = "x"\nRegex = "(a)(b)"\nSECRETGROUP = 2\nStopWordz = 1\n'
        '[[rules.allowlists]]\nregextarget = "line"\nSTOPWORDS = ["Mock"]\n'
    )
    rule = rules.rules[0]
    assert (rule.id, rule.secret_group) == ("x", 2)
    assert rule.allowlists[0].regex_target is RegexTarget.LINE
    assert rule.allowlists[0].stopwords == ("mock",)
    assert any("stopwordz" in w for w in rules.warnings)


def test_extend_path_next_to_the_config(tmp_path: Path):
    (tmp_path / "base.toml").write_text('[[rules]]\nid = "base"\nregex = "b"\n')
    (tmp_path / "team.toml").write_text(
        '[extend]\npath = "base.toml"\n[[rules]]\nid = "team"\nregex = "t"\n'
    )
    rules = load_rules(tmp_path / "team.toml")
    assert [r.id for r in rules.rules] == ["base", "team"]


def test_unreadable_rules_file(tmp_path: Path):
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes(b"title = '\xe9'")
    with pytest.raises(RuleError, match="UTF-8"):
        load_rules(tmp_path / "latin1.toml")


_TOML_PIECES = st.sampled_from(
    [
        "[[rules]]\n", "[[rules.allowlists]]\n", "[[allowlists]]\n", "[allowlist]\n",
        "[extend]\n", "[[rules.required]]\n", 'id = "r"\n', 'id = ""\n', "id = 3\n",
        'regex = "(a)(b)"\n', 'regex = "(?=x)"\n', "regex = '[[:alpha:]]{2,}'\n",
        'path = "\\\\.py$"\n', "secretGroup = 2\n", "secretGroup = 9\n", "entropy = 3.5\n",
        "entropy = nan\n", 'keywords = ["A", "b"]\n', "keywords = [1]\n", 'tags = ["t"]\n',
        'regexes = ["x"]\n', 'paths = ["("]\n', 'stopwords = ["s"]\n', 'condition = "AND"\n',
        'condition = "?"\n', 'regexTarget = "line"\n', 'targetRules = ["r"]\n',
        "useDefault = true\n", 'path = "nowhere.toml"\n', 'disabledRules = ["r"]\n',
        "skipReport = true\n", "withinLines = 2\n", "= broken\n", "[[[\n", 'title = "t"\n',
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_TOML_PIECES, max_size=14))
def test_fuzzed_configs_raise_only_rule_errors(pieces: list[str]):
    try:
        rules = parse_rules("".join(pieces))
    except RuleError:
        return  # the declared error; anything else fails the test
    Detector(rules, "python").detect("ab key r t AKIA s", "a.py")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_fuzzed_text_raises_only_stockade_errors(text: str):
    with contextlib.suppress(StockadeError):
        parse_rules(text)


def test_every_valid_fixture_loads(in_gitleaks_testdata: Path):
    bases = {"extend_base_1", "extend_base_2"}  # their own [extend] names a missing file
    names = sorted(p.stem for p in (in_gitleaks_testdata / "valid").glob("*.toml"))
    assert len(names) == 32
    for name in names:
        if name in bases:
            with pytest.raises(RuleError, match=r"extend_3\.toml' does not exist"):
                load(f"valid/{name}")
        else:
            assert load(f"valid/{name}").source.endswith(f"{name}.toml")
