"""Loading rules files: lists, macros, append and override, exceptions, and what fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.runtime.events import Container, FileEvent, Process, ProcessEvent
from stockade.runtime.rules import LoadedRules, RulesError, load_rules, load_rules_text

CAT = Process(pid=10, name="cat", exe="cat", exepath="/usr/bin/cat", args=("/dev/null",))


def _open(path: str, process: Process = CAT, flags: int = os.O_RDONLY) -> FileEvent:
    return FileEvent("openat", process, path=path, flags=flags, fd=3)


def _load(*texts: str) -> LoadedRules:
    return load_rules_text([(f"file{i}.yaml", text) for i, text in enumerate(texts)])


def _codes(loaded: LoadedRules) -> set[tuple[str, str, str]]:
    return {(d.code, d.item_type, d.item_name) for d in loaded.diagnostics}


def _names(loaded: LoadedRules, event: object) -> list[str]:
    return [alert.rule for alert in loaded.ruleset.match(event)]  # type: ignore[arg-type]


RULE = """
- rule: cat_opens
  desc: d
  condition: evt.type=openat and {condition}
  output: "opened %fd.name by %proc.cmdline"
  priority: WARNING
"""


def test_lists_nest_and_the_last_definition_wins() -> None:
    loaded = _load(
        """
- list: cat_binaries
  items: [not_cat]
- list: cat_binaries
  items: [cat]
- list: capable
  items: [cat_binaries, '"two words"']
"""
        + RULE.format(condition="proc.name in (capable)")
    )
    assert loaded.ok
    assert not loaded.warnings
    assert _names(loaded, _open("/dev/null")) == ["cat_opens"]


def test_a_list_as_the_value_of_equals_is_its_single_item() -> None:
    loaded = _load("- list: l\n  items: [cat]\n" + RULE.format(condition="proc.name=l"))
    assert _names(loaded, _open("/x")) == ["cat_opens"]
    two = _load("- list: l\n  items: [cat, dog]\n" + RULE.format(condition="proc.name=l"))
    assert ("LOAD_ERR_COMPILE_CONDITION", "rule", "cat_opens") in _codes(two)


def test_list_and_macro_append_and_override() -> None:
    loaded = _load(
        """
- list: names
  items: [dog]
- macro: is_cat
  condition: proc.name=nobody
- rule: cat_opens
  desc: d
  condition: evt.type=openat and is_cat
  output: "x"
  priority: INFO
""",
        """
- list: names
  items: [cat]
  append: true
- macro: is_cat
  condition: or proc.name in (names)
  override:
    condition: append
""",
    )
    assert loaded.ok, loaded.errors
    assert _names(loaded, _open("/x")) == ["cat_opens"]
    replaced = _load(
        "- list: names\n  items: [cat]\n- list: names\n  items: [dog]\n"
        "  override: {items: replace}\n" + RULE.format(condition="proc.name in (names)")
    )
    assert _names(replaced, _open("/x")) == []


def test_rule_append_condition_and_override_output_and_priority() -> None:
    loaded = _load(
        RULE.format(condition="fd.name=/nowhere"),
        """
- rule: cat_opens
  condition: or (evt.type=openat and fd.name=/dev/null)
  append: true
- rule: cat_opens
  output: "(%proc.name)"
  priority: CRITICAL
  override: {output: append, priority: replace}
""",
    )
    assert loaded.ok, loaded.errors
    [alert] = loaded.ruleset.match(_open("/dev/null"))
    assert alert.priority.label == "critical"
    assert alert.output == "opened /dev/null by cat /dev/null (cat)"
    assert alert.fields == {
        "fd.name": "/dev/null",
        "proc.cmdline": "cat /dev/null",
        "proc.name": "cat",
    }


def test_enabled_only_items_switch_rules_off_and_on() -> None:
    off = _load(RULE.format(condition="proc.name=cat"), "- rule: cat_opens\n  enabled: false\n")
    assert _names(off, _open("/x")) == []
    assert [d.kind for d in off.disabled] == ["enabled_false"]
    on = _load(
        RULE.format(condition="proc.name=cat") + "  enabled: false\n",
        "- rule: cat_opens\n  enabled: true\n",
    )
    assert _names(on, _open("/x")) == ["cat_opens"]


def test_exceptions_are_evaluated_as_falco_does() -> None:
    loaded = _load(
        "- list: cmdlines\n  items: [cat /dev/zero, '\"cat /dev/null\"']\n"
        + RULE.format(condition="proc.name=cat")
        + """  exceptions:
    - name: by_name_and_cmdline
      fields: [proc.name, proc.cmdline]
      comps: [=, in]
      values:
        - [cat, cmdlines]
    - name: by_file
      fields: fd.name
      values: [/etc/hosts]
    - name: by_prefix
      fields: [fd.name]
      comps: [startswith]
""",
        """
- rule: cat_opens
  exceptions:
    - name: by_prefix
      values: [[/proc/]]
  append: true
""",
    )
    assert loaded.ok, loaded.errors
    other_cat = Process(pid=11, name="cat", exe="cat", exepath="/usr/bin/cat", args=("/etc/x",))
    assert _names(loaded, _open("/dev/null")) == []  # cat /dev/null is excepted
    assert _names(loaded, _open("/etc/x", other_cat)) == ["cat_opens"]
    assert _names(loaded, _open("/etc/hosts", other_cat)) == []
    assert _names(loaded, _open("/proc/self/status", other_cat)) == []


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        ("- name: e\n      comps: [=]", ("LOAD_ERR_YAML_VALIDATE", "exception", "e")),
        ("- fields: [proc.name]", ("LOAD_ERR_YAML_VALIDATE", "exception", "")),
        ("- name: e\n      fields: [no.such]", ("LOAD_ERR_VALIDATE", "exception", "e")),
        (
            "- name: e\n      fields: [proc.name]\n      comps: [~]",
            ("LOAD_ERR_VALIDATE", "exception", "e"),
        ),
        (
            "- name: e\n      fields: [proc.name, fd.name]\n      values: [[cat]]",
            ("LOAD_ERR_VALIDATE", "exception", "e"),
        ),
    ],
)
def test_malformed_exceptions_are_errors(exception: str, expected: tuple[str, str, str]) -> None:
    loaded = _load(RULE.format(condition="proc.name=cat") + "  exceptions:\n    " + exception)
    assert expected in _codes(loaded)
    assert not loaded.ok


def test_macro_loops_and_undefined_macros_are_errors() -> None:
    loaded = _load(
        """
- macro: a
  condition: b
- macro: b
  condition: a
- macro: c
  condition: nowhere
"""
        + RULE.format(condition="a")
    )
    codes = _codes(loaded)
    assert ("LOAD_ERR_VALIDATE", "macro", "a") in codes
    assert ("LOAD_ERR_VALIDATE", "macro", "c") in codes
    assert ("LOAD_ERR_VALIDATE", "rule", "cat_opens") in codes
    assert any("reference loop in macro: a -> b -> a" in d.message for d in loaded.errors)


def test_a_list_loop_keeps_the_name_and_warns() -> None:
    loaded = _load(
        "- list: a\n  items: [b]\n- list: b\n  items: [a]\n"
        + RULE.format(condition="proc.name in (a)")
    )
    assert loaded.ok
    assert {code for code, _, _ in _codes(loaded)} == {"LOAD_LIST_REFERENCE_LOOP"}
    # a -> b -> a: the inner "a" stays a plain value, so a process named a matches.
    named_a = Process(pid=2, name="a")
    assert _names(loaded, _open("/x", named_a)) == ["cat_opens"]


def test_unknown_fields_fail_unless_the_rule_asks_to_be_skipped() -> None:
    strict = _load(RULE.format(condition="proc.nobody=cat"))
    assert ("LOAD_ERR_COMPILE_CONDITION", "rule", "cat_opens") in _codes(strict)
    lenient = _load(RULE.format(condition="proc.nobody=cat") + "  skip-if-unknown-filter: true\n")
    assert lenient.ok
    assert ("LOAD_UNKNOWN_FIELD", "rule", "cat_opens") in _codes(lenient)
    assert [(d.kind, d.missing_fields) for d in lenient.disabled] == [
        ("unknown_fields", ("proc.nobody",))
    ]


def test_fields_we_lack_disable_the_rule_once_with_the_reason() -> None:
    loaded = _load(RULE.format(condition="fd.connected=true and fd.name_changed=true"))
    assert loaded.ok
    assert len(loaded.ruleset) == 0
    [disabled] = loaded.disabled
    assert disabled.kind == "unsupported_fields"
    assert disabled.missing_fields == ("fd.connected", "fd.name_changed")
    assert "sendto/sendmsg" in disabled.reason


def test_branches_for_unobserved_event_types_do_not_need_their_fields() -> None:
    condition = "(evt.type=openat or (evt.type=sendto and fd.connected=false)) and proc.name=cat"
    loaded = _load(RULE.format(condition=f"({condition})"))
    assert loaded.disabled == ()
    assert len(loaded.ruleset) == 1
    only_unobserved = _load(RULE.format(condition="proc.name=cat").replace("openat", "ptrace"))
    assert [d.kind for d in only_unobserved.disabled] == ["unobserved_event_types"]


def test_rules_that_match_every_event_type_warn() -> None:
    loaded = _load(
        RULE.format(condition="proc.name=cat").replace(
            "evt.type=openat and ", "not evt.type=openat and "
        )
    )
    assert ("LOAD_NO_EVTTYPE", "rule", "cat_opens") in _codes(loaded)
    quiet = _load(
        RULE.format(condition="x").replace("evt.type=openat and x", "proc.name=cat")
        + "  warn_evttypes: false\n"
    )
    assert quiet.warnings == ()


def test_unknown_event_types_and_bad_values_are_compile_errors() -> None:
    for condition in (
        "evt.type=nosuchcall",
        "proc.tty=abc",
        "proc.name>=cat and fd.sport contains 1",
    ):
        loaded = _load(
            RULE.format(condition="proc.name=cat").replace(
                "evt.type=openat and proc.name=cat", condition
            )
        )
        assert ("LOAD_ERR_COMPILE_CONDITION", "rule", "cat_opens") in _codes(loaded), condition


def test_output_placeholders_must_be_fields() -> None:
    loaded = _load(RULE.format(condition="proc.name=cat").replace("%fd.name", "%not_a_field"))
    assert ("LOAD_ERR_COMPILE_OUTPUT", "rule", "cat_opens") in _codes(loaded)


def test_unused_lists_and_macros_warn() -> None:
    loaded = _load("- list: l\n  items: [a]\n- macro: m\n  condition: proc.name=a\n")
    assert _codes(loaded) == {
        ("LOAD_UNUSED_LIST", "list", "l"),
        ("LOAD_UNUSED_MACRO", "macro", "m"),
    }


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("- rule: x\n  condition: [a\n", "LOAD_ERR_YAML_PARSE", 3),
        ("a: b\n", "LOAD_ERR_YAML_VALIDATE", 1),
        ("- list: ok\n  items: []\n- just a string\n", "LOAD_ERR_YAML_VALIDATE", 3),
        ("- list: a\n  items: [x]\n- rule: r\n  desc: d\n", "LOAD_ERR_YAML_VALIDATE", 3),
        ("- required_engine_version: 9999\n", "LOAD_ERR_VALIDATE", 1),
        ("- required_engine_version: soon\n", "LOAD_ERR_YAML_VALIDATE", 1),
        ("- macro: m\n  condition: a\n  append: true\n", "LOAD_ERR_VALIDATE", 1),
    ],
)
def test_malformed_files_are_errors_with_file_and_line(text: str, code: str, line: int) -> None:
    loaded = load_rules_text([("broken.yaml", text)])
    [error] = [e for e in loaded.errors if e.code == code]
    assert (error.file, error.line) == ("broken.yaml", line)
    assert str(error).startswith(f"broken.yaml:{line}: error: ")


def test_an_alias_bomb_is_refused() -> None:
    lines = ["- list: a0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"- list: a{i}\n  items: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)
    ]
    loaded = load_rules_text([("bomb.yaml", "\n".join(lines) + "\n")])
    assert [e.code for e in loaded.errors] == ["LOAD_ERR_YAML_PARSE"]
    assert "alias bomb" in loaded.errors[0].message


def test_directories_load_their_yaml_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("- list: l\n  items: [dog]\n  append: true\n")
    (tmp_path / "a.yaml").write_text(
        "- list: l\n  items: [cat]\n" + RULE.format(condition="proc.name in (l)")
    )
    (tmp_path / "notes.txt").write_text("not rules")
    loaded = load_rules([tmp_path])
    assert loaded.ok
    assert [Path(f.file).name for f in loaded.files] == ["a.yaml", "b.yaml"]
    with pytest.raises(RulesError, match="cannot read"):
        load_rules([tmp_path / "missing.yaml"])


def test_raise_for_errors_lists_them() -> None:
    loaded = _load(RULE.format(condition="proc.name=(cat"))
    with pytest.raises(RulesError, match=r"1 error\(s\)") as caught:
        loaded.raise_for_errors()
    assert "file0.yaml:2" in str(caught.value)


def test_containers_and_exec_events_feed_container_rules() -> None:
    loaded = _load(
        """
- macro: container
  condition: container.id != host
- rule: shell in container
  desc: d
  condition: evt.type=execve and container and proc.name in (sh, bash) and k8s.ns.name=prod
  output: "%proc.name in %container.image.repository (%k8s.pod.name)"
  priority: NOTICE
"""
    )
    pod = Container(
        id="abcdef012345", image_repository="nginx", k8s_namespace="prod", k8s_pod_name="web-1"
    )
    shell = Process(pid=5, name="sh", exe="sh", exepath="/bin/sh", container=pod)
    [alert] = loaded.ruleset.match(ProcessEvent("execve", shell))
    assert alert.output == "sh in nginx (web-1)"
    host_shell = Process(pid=6, name="sh", exe="sh", exepath="/bin/sh")
    assert loaded.ruleset.match(ProcessEvent("execve", host_shell)) == []


def test_the_public_names_are_all_exported() -> None:
    from stockade.runtime import rules

    exported = set(rules.__all__)
    assert exported <= set(vars(rules))
    defined_here = {
        name
        for name, value in vars(rules).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith(rules.__name__)
    }
    assert defined_here <= exported


_YAMLISH = st.lists(
    st.sampled_from(
        [
            "- ",
            "rule: r\n",
            "  condition: ",
            "evt.type=openat",
            " and ",
            "proc.name=cat",
            "\n",
            "  output: o %proc.name\n",
            "  priority: ",
            "INFO\n",
            "  append: true\n",
            "- macro: m\n",
            "- list: l\n  items: [",
            "a, ",
            "l]\n",
            "&x ",
            "*x",
            "{",
            "[",
            ": ",
            "  exceptions:\n    - name: e\n      fields: [proc.name]\n",
            "      values: [[cat]]\n",
            "  override: {condition: append}\n",
            "\t",
            "'",
            '"',
            "m",
            "!= ",
            "- required_engine_version: ",
        ]
    ),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_YAMLISH | st.binary(max_size=60))
def test_fuzz_loading_reports_instead_of_raising(text: str | bytes) -> None:
    loaded = load_rules_text([("fuzz.yaml", text)])
    for diagnostic in loaded.diagnostics:
        assert diagnostic.file == "fuzz.yaml"
        assert diagnostic.code.startswith("LOAD_")
