"""Safe, bounded YAML loading: documents, lines, Helm sources, limits, and only
YamlLoadError for bad input."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.compliance.yamlload import (
    YamlLimits,
    YamlLoadError,
    format_path,
    load_documents,
)
from stockade.core.errors import StockadeError

MULTI = """\
# a leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
data:
  key: value
---
---
kind: Pod
metadata: {name: two, labels: {"app.kubernetes.io/name": web}}
spec:
  containers:
  - name: a
    image: nginx
  - name: b
    image: redis
"""


def test_documents_keep_their_index_and_start_line() -> None:
    first, second = load_documents(MULTI)
    assert (first.index, first.line) == (0, 2)
    assert (second.index, second.line) == (2, 10)  # the empty document still counts
    assert first.data == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "one"},
        "data": {"key": "value"},
    }


def test_fields_have_lines_by_json_path() -> None:
    second = load_documents(MULTI)[1]
    assert second.field_lines["spec.containers[1].image"] == 17
    assert second.field_lines["spec.containers[0]"] == 14
    assert second.field_lines['metadata.labels["app.kubernetes.io/name"]'] == 11
    # a block collection's line is its key's, not its first entry's
    assert (second.field_lines["spec"], second.field_lines["spec.containers"]) == (12, 13)
    # a missing field reports its nearest written ancestor
    assert second.line_of(("spec", "containers", 1, "securityContext", "privileged")) == 16
    assert second.line_of(("nowhere",)) == 10


def test_format_path_quotes_keys_that_are_not_identifiers() -> None:
    assert format_path(("spec", "containers", 0, "image")) == "spec.containers[0].image"
    assert format_path(("metadata", "annotations", "a.b/c")) == 'metadata.annotations["a.b/c"]'
    assert format_path(("80",)) == '["80"]'
    assert format_path(()) == ""


def test_helm_source_comments_head_their_documents() -> None:
    text = """\
---
# Source: app/templates/sa.yaml
apiVersion: v1
kind: ServiceAccount
---
# Source: app/templates/empty.yaml
---
# Source: app/templates/deployment.yaml
kind: Deployment
---
kind: Service
"""
    sa, deployment, service = load_documents(text)
    assert sa.helm_source == "app/templates/sa.yaml"
    assert deployment.helm_source == "app/templates/deployment.yaml"
    assert service.helm_source is None  # the empty template's comment is not inherited


def test_a_link_in_a_source_comment_is_not_a_helm_template() -> None:
    (document,) = load_documents("# Source: https://kubernetes.io/docs/x\nkind: Pod\n")
    assert document.helm_source is None


def test_merge_keys_and_aliases_load_as_plain_data() -> None:
    (document,) = load_documents("base: &b {a: 1}\nd:\n  <<: *b\n  c: 2\ne: *b\n")
    assert document.data == {"base": {"a": 1}, "d": {"a": 1, "c": 2}, "e": {"a": 1}}


def test_json_is_read_with_lines_and_with_tabs() -> None:
    (spaces,) = load_documents('{\n  "kind": "Pod",\n  "spec": {"containers": []}\n}')
    assert spaces.data["kind"] == "Pod"
    assert spaces.field_lines["spec"] == 3
    (tabs,) = load_documents('{\n\t"kind": "Pod",\n\t"a": [1,\n\t\t2]\n}')
    assert tabs.data == {"kind": "Pod", "a": [1, 2]}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: b\n c: d\n  - e\n", 2, "malformed YAML"),
        ("a:\n\tb: c\n", 2, "malformed YAML"),
        ("!!python/object/apply:os.system ['echo hi']\n", 1, "constructor"),
        ("a: 2024-02-30\n", 1, "day is out of range"),
        ("a: \x00\n", 1, "not allowed"),
        ("? [a]\n: b\n", 1, "unhashable"),
        ("a: *nope\n", 1, "names no anchor"),
        ("a: &a [*a]\n", 1, "contains it"),
        ("x: 1\n---\ny: *a\n---\na: &a 1\n", 3, "names no anchor"),
        ('{\n  "kind": "Pod",,\n}', 2, "malformed JSON"),
    ],
)
def test_malformed_input_names_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(YamlLoadError) as caught:
        load_documents(text, name="deploy.yaml")
    error = caught.value
    assert isinstance(error, StockadeError)
    assert (error.file, error.line) == ("deploy.yaml", line)
    assert words in error.message
    assert error.message.startswith(f"deploy.yaml:{line}: ")


def test_non_utf8_bytes_are_refused_with_their_line() -> None:
    with pytest.raises(YamlLoadError, match="not UTF-8") as caught:
        load_documents(b"a: b\nc: \xc3\x28\n", name="x.yaml")
    assert caught.value.line == 2


def test_utf8_bom_and_utf16_are_read() -> None:
    assert load_documents(b"\xef\xbb\xbfa: 1\n")[0].data == {"a": 1}
    assert load_documents("a: 1\n".encode("utf-16"))[0].data == {"a": 1}


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(YamlLoadError, match="aliases are expanded") as caught:
        load_documents(billion_laughs(), name="bomb.yaml")
    assert time.perf_counter() - start < 1.0
    assert caught.value.line is not None
    assert "billion laughs" in (caught.value.hint or "")


def test_a_few_aliases_are_fine() -> None:
    assert len(load_documents(billion_laughs(levels=2))[0].data["c"]) == 9


def test_size_limit_is_checked_before_parsing() -> None:
    start = time.perf_counter()
    with pytest.raises(YamlLoadError, match="over the 16777216-byte limit") as caught:
        load_documents(b"a: " + b"x" * (16 * 1024 * 1024), name="huge.yaml")
    assert time.perf_counter() - start < 1.0
    assert caught.value.line is None
    assert "max_bytes" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("text", "limits", "words"),
    [
        ("[" * 300 + "]" * 300, YamlLimits(), "nested more than 256"),
        ("a: [1, 2, 3, 4]\n", YamlLimits(max_nodes=4), "more than 4 nodes"),
        ("a\n---\nb\n---\nc\n", YamlLimits(max_documents=2), "more than 2 documents"),
        ("a: 1\n", YamlLimits(max_bytes=3), "over the 3-byte limit"),
    ],
)
def test_limits(text: str, limits: YamlLimits, words: str) -> None:
    with pytest.raises(YamlLoadError, match=words):
        load_documents(text, limits=limits)


def test_deep_nesting_beyond_libyaml_is_an_error_not_a_crash() -> None:
    with pytest.raises(YamlLoadError):
        load_documents("[" * 200_000)


def test_field_lines_stop_at_their_cap_and_fall_back() -> None:
    (document,) = load_documents("a: 1\nb: 2\nc: {d: 3}\n", limits=YamlLimits(max_field_lines=2))
    assert set(document.field_lines) == {"a", "b"}
    assert document.line_of(("c", "d")) == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_loads_what_pyyaml_dumps_the_same_as_safe_load(value: object) -> None:
    text = yaml.safe_dump(value)
    documents = load_documents(text)
    expected = yaml.safe_load(text)
    if expected is None:
        assert documents == []
    else:
        assert documents[0].data == expected


@settings(max_examples=100, deadline=None)
@given(_json)
def test_loads_json_the_same_as_json(value: object) -> None:
    text = json.dumps(value, indent=2)
    documents = load_documents(text)
    if value is None:
        assert documents == []
    else:
        assert documents[0].data == json.loads(text)


_yamlish = st.lists(
    st.sampled_from(
        [
            "a",
            ":",
            " ",
            "\n",
            "-",
            "&x",
            "*x",
            "[",
            "]",
            "{",
            "}",
            ",",
            "'",
            '"',
            "#",
            "---",
            "...",
            "!!str",
            "!!python/name:os.system",
            "<<",
            "?",
            "|",
            ">",
            "\t",
            "2024-02-30",
            "0x1f",
            "~",
            "%YAML 1.1",
            "\x00",
            "é",
            "\ud800",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_yamlish, st.text(max_size=200)))
def test_any_text_loads_or_raises_yaml_load_error(text: str) -> None:
    with contextlib.suppress(YamlLoadError):
        load_documents(text, limits=YamlLimits(max_nodes=10_000))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_load_or_raise_yaml_load_error(data: bytes) -> None:
    with contextlib.suppress(YamlLoadError):
        load_documents(data)
