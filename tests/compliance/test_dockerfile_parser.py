"""The Dockerfile parser: line numbers, continuations, directives, heredocs, stages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.compliance.dockerfile import (
    DockerfileError,
    check_dockerfile,
    parse_dockerfile,
    read_dockerfile,
)
from stockade.compliance.dockerfile.parser import env_pairs, expand_variables, split_words
from stockade.compliance.dockerfile.shell import run_commands, split_commands
from stockade.core.errors import StockadeError

SAMPLE = """\
# syntax=docker/dockerfile:1
# escape=\\

ARG BASE=python:3.12-slim
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
# a comment
RUN apt-get update \\
 # comment inside a continuation
 && apt-get install -y gcc \\

 && rm -rf /var/lib/apt/lists/*
ENV A=1 B="two words"
ENV LEGACY some value
COPY <<EOF /app/config
key = value
EOF

FROM build
USER app
"""


def test_instructions_lines_and_continuations() -> None:
    dockerfile = parse_dockerfile(SAMPLE, "Dockerfile")
    assert dockerfile.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
    assert [(i.keyword, i.line) for i in dockerfile.instructions] == [
        ("ARG", 4),
        ("FROM", 5),
        ("RUN", 7),
        ("ENV", 12),
        ("ENV", 13),
        ("COPY", 14),
        ("FROM", 18),
        ("USER", 19),
    ]
    run = dockerfile.instructions[2]
    assert run.end_line == 11
    assert run.value == "apt-get update  && apt-get install -y gcc  && rm -rf /var/lib/apt/lists/*"
    assert [c[:2] for c in run_commands(run)] == [
        ["apt-get", "update"],
        ["apt-get", "install"],
        ["rm", "-rf"],
    ]
    assert dockerfile.warnings == ()


def test_stages_args_and_env() -> None:
    dockerfile = parse_dockerfile(SAMPLE)
    first, second = dockerfile.stages
    assert (first.base, first.name, first.platform, first.line) == (
        "${BASE}",
        "build",
        "$BUILDPLATFORM",
        5,
    )
    assert dockerfile.global_args == {"BASE": "python:3.12-slim"}
    assert expand_variables(first.base, dockerfile.global_args) == "python:3.12-slim"
    assert second.base == "build"
    assert [s.index for s in dockerfile.final_chain()] == [0, 1]
    assert env_pairs(dockerfile.instructions[3]) == {"A": "1", "B": "two words"}
    assert env_pairs(dockerfile.instructions[4]) == {"LEGACY": "some value"}


def test_heredoc() -> None:
    copy = parse_dockerfile(SAMPLE).instructions[5]
    assert copy.heredocs[0].name == "EOF"
    assert copy.heredocs[0].body == "key = value"
    assert copy.end_line == 16


def test_heredoc_script_is_a_run_script() -> None:
    text = "FROM alpine:3\nRUN <<-EOT\n\tapk update\n\tapk add curl\n\tEOT\nUSER app\n"
    dockerfile = parse_dockerfile(text)
    run = dockerfile.instructions[1]
    assert [c[:2] for c in run_commands(run)] == [["apk", "update"], ["apk", "add"]]
    assert dockerfile.instructions[2].line == 6


def test_heredoc_fed_to_another_program_is_data() -> None:
    text = "FROM alpine:3\nRUN python3 <<EOT\napt update\nEOT\n"
    run = parse_dockerfile(text).instructions[1]
    assert run_commands(run) == [["python3", "<<EOT"]]


def test_unterminated_heredoc_is_a_warning() -> None:
    dockerfile = parse_dockerfile("FROM a:1\nRUN cat <<EOF\nno end\n")
    assert dockerfile.instructions[1].heredocs[0].terminated is False
    assert any("never terminated" in w for w in dockerfile.warnings)


def test_backtick_escape() -> None:
    text = "# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nWORKDIR c:\\app `\n  \\sub\n"
    dockerfile = parse_dockerfile(text)
    assert dockerfile.escape == "`"
    assert dockerfile.instructions[1].value == "c:\\app   \\sub"


def test_tolerates_what_a_reviewer_can_read() -> None:
    dockerfile = parse_dockerfile('RUN early\nFROM base\nLABEL foo="bar baz\n~\n')
    assert [i.keyword for i in dockerfile.instructions] == ["RUN", "FROM", "LABEL", "~"]
    assert len(dockerfile.warnings) == 2


def test_exec_form() -> None:
    dockerfile = parse_dockerfile('FROM a:1\nRUN ["/bin/sh", "-c", "apt update && x"]\n')
    assert run_commands(dockerfile.instructions[1]) == [["apt", "update"], ["x"]]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("sudo -E apt-get update", [["apt-get", "update"]]),
        ("DEBIAN_FRONTEND=noninteractive apt install x", [["apt", "install", "x"]]),
        ("echo 'a && b' | tee f", [["echo", "a && b"], ["tee", "f"]]),
        ("cd /var/lib && rm -rf apt", [["cd", "/var/lib"], ["rm", "-rf", "apt"]]),
    ],
)
def test_split_commands(script: str, expected: list[list[str]]) -> None:
    assert split_commands(script) == expected


def test_split_words_tolerates_open_quotes() -> None:
    assert split_words('foo="bar baz') == ["foo=bar baz"]
    assert split_words(r"a\ b 'c d' \"e") == ["a b", "c d", '"e']


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("$A:1", {"A": "x"}, "x:1"),
        ("${A:-d}", {}, "d"),
        ("${A:+y}", {"A": "x"}, "y"),
        ("${A}", {}, None),
        ("${A}", {"A": None}, None),
    ],
)
def test_expand_variables(
    text: str, variables: dict[str, str | None], expected: str | None
) -> None:
    assert expand_variables(text, variables) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n# only a comment\n",
        "FROM a\x00b\n",
        "# escape=x\nFROM a\n",
        "# escape=`\n# escape=\\\nFROM a\n",
    ],
)
def test_malformed_input_is_a_dockerfile_error(text: str) -> None:
    with pytest.raises(DockerfileError):
        parse_dockerfile(text)


def test_too_large_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="too large"):
        parse_dockerfile("FROM a\n" + "#" * (4 * 1024 * 1024))


def test_read_dockerfile_errors(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="cannot read"):
        read_dockerfile(tmp_path / "missing")
    binary = tmp_path / "Dockerfile"
    binary.write_bytes(b"FROM a\n\xff\xfe")
    with pytest.raises(DockerfileError, match="UTF-8"):
        read_dockerfile(binary)


_FRAGMENTS = [
    "FROM",
    "FROM a AS b",
    "RUN",
    "RUN <<EOF",
    "RUN <<-'X'",
    "EOF",
    "\\",
    "`",
    "# escape=`",
    "# syntax=x",
    "ARG A=${B:-c}",
    "ENV A",
    'ENV A="',
    "USER",
    "WORKDIR",
    "EXPOSE 22-x",
    "HEALTHCHECK",
    "COPY --from=",
    "ADD",
    "--",
    '["',
    "$",
    "${",
]
_DOCKERISH = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=30)), max_size=25
).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(_DOCKERISH)
def test_fuzz_only_stockade_errors_escape(text: str) -> None:
    try:
        dockerfile = parse_dockerfile(text)
    except StockadeError:
        return
    for result in check_dockerfile(dockerfile):
        assert result.file == "Dockerfile"
