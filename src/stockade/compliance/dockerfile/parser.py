"""A tolerant Dockerfile parser: instructions with line numbers, stages and build args.

It follows the Dockerfile reference where that is unambiguous (parser directives, the
escape character, continuation lines, heredocs, ``FROM [--platform=…] image [AS name]``)
and records a warning, rather than failing, where ``docker build`` would refuse a file
that a reviewer can still judge (an unknown instruction, an instruction before the first
``FROM``, an unterminated quote or heredoc). Only input that is not a Dockerfile at all
raises :class:`~stockade.compliance.dockerfile.errors.DockerfileError`.

Pure: text in, :class:`Dockerfile` out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from stockade.compliance.dockerfile.errors import DockerfileError
from stockade.compliance.interface import Suppression
from stockade.compliance.suppress import dockerfile_skips

__all__ = [
    "KNOWN_INSTRUCTIONS",
    "MAX_DOCKERFILE_CHARS",
    "Dockerfile",
    "Heredoc",
    "Instruction",
    "Stage",
    "arg_pairs",
    "env_pairs",
    "expand_variables",
    "parse_dockerfile",
    "split_words",
]

MAX_DOCKERFILE_CHARS: Final = 4 * 1024 * 1024
"""Real Dockerfiles are kilobytes; anything this large is not one."""

KNOWN_INSTRUCTIONS: Final = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)

# Instructions whose leading ``--name[=value]`` words are options, not arguments.
_FLAG_INSTRUCTIONS: Final = frozenset({"ADD", "COPY", "FROM", "HEALTHCHECK", "RUN"})
_HEREDOC_INSTRUCTIONS: Final = frozenset({"ADD", "COPY", "RUN"})
_DIRECTIVE_RE: Final = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_KNOWN_DIRECTIVES: Final = frozenset({"syntax", "escape", "check"})
_HEREDOC_RE: Final = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_VARIABLE_RE: Final = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document attached to RUN, COPY or ADD (BuildKit syntax)."""

    name: str
    body: str
    line: int
    """Line of the first body line."""
    terminated: bool = True


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, its continuation lines joined as the builder joins them."""

    keyword: str
    """Upper-case (``RUN``); unknown keywords are kept as written, upper-cased."""
    value: str
    """Everything after the keyword and options, continuation lines joined."""
    line: int
    """1-based line where the instruction starts."""
    end_line: int
    flags: tuple[tuple[str, str], ...] = ()
    """Leading ``--name=value`` options of ADD, COPY, FROM, HEALTHCHECK and RUN."""
    heredocs: tuple[Heredoc, ...] = ()
    stage: int = -1
    """Index of the build stage the instruction belongs to; -1 before the first FROM."""

    def flag(self, name: str) -> str | None:
        for key, value in self.flags:
            if key == name:
                return value
        return None

    @property
    def is_exec_form(self) -> bool:
        """The JSON-array form (``CMD ["a", "b"]``)."""
        return self.value.startswith("[") and self.value.rstrip().endswith("]")


@dataclass(frozen=True, slots=True)
class Stage:
    """One ``FROM`` and the instructions up to the next."""

    index: int
    base: str
    """The image reference as written (variables unexpanded)."""
    name: str | None
    """The ``AS`` alias, lower-cased as the builder compares it."""
    line: int
    platform: str | None = None
    instructions: tuple[Instruction, ...] = ()


@dataclass(frozen=True, slots=True)
class Dockerfile:
    name: str
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    directives: Mapping[str, str] = field(default_factory=dict)
    escape: str = "\\"
    global_args: Mapping[str, str | None] = field(default_factory=dict)
    """ARGs declared before the first FROM, with their defaults (None: no default)."""
    warnings: tuple[str, ...] = ()
    """What ``docker build`` would refuse but the checks can still read."""
    skips: Mapping[str, Suppression] = field(default_factory=dict)
    """Checks suppressed by ``# stockade:skip=`` / ``#checkov:skip=`` comments: id → reason."""

    def instructions_of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def stage_named(self, name: str) -> Stage | None:
        wanted = name.lower()
        for stage in self.stages:
            if stage.name == wanted:
                return stage
        return None

    def final_chain(self) -> list[Stage]:
        """The final stage and the stages of this file it builds on, oldest first."""
        if not self.stages:
            return []
        chain = [self.stages[-1]]
        seen = {self.stages[-1].index}
        while True:
            parent = self.stage_named(chain[0].base)
            if parent is None or parent.index in seen or parent.index > chain[0].index:
                return chain
            seen.add(parent.index)
            chain.insert(0, parent)

    def final_instructions(self) -> list[Instruction]:
        """Instructions that shape the image the file builds (the final chain's)."""
        return [i for stage in self.final_chain() for i in stage.instructions]


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Split like the builder splits arguments: whitespace, quotes, the escape character.

    An unterminated quote runs to the end of the text instead of failing.
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == quote:
                quote = None
            elif char == escape and quote == '"' and i + 1 < len(text):
                i += 1
                current.append(text[i])
            else:
                current.append(char)
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        elif char in "\"'":
            quote = char
            in_word = True
        elif char == escape and i + 1 < len(text):
            i += 1
            current.append(text[i])
            in_word = True
        else:
            current.append(char)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def expand_variables(text: str, variables: Mapping[str, str | None]) -> str | None:
    """``$NAME``, ``${NAME}``, ``${NAME:-word}``, ``${NAME:+word}`` from ``variables``.

    None when a variable has no value and no default: the result would be a guess.
    """
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group("braced") or match.group("plain")
        value = variables.get(name)
        op = match.group("op")
        word = match.group("word") or ""
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return word
            return value
        if op in (":+", "+"):
            return word if value else ""
        if value is None:
            unresolved = True
            return ""
        return value

    result = _VARIABLE_RE.sub(replace, text)
    return None if unresolved else result


@dataclass
class _Scanner:
    lines: list[str]
    escape: str
    position: int = 0
    warnings: list[str] = field(default_factory=list)


def parse_dockerfile(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse ``text`` (the content of the Dockerfile called ``name``).

    Raises :class:`DockerfileError` for text that is not a Dockerfile: binary content,
    over :data:`MAX_DOCKERFILE_CHARS`, no instructions, or conflicting parser directives.
    """
    if len(text) > MAX_DOCKERFILE_CHARS:
        raise DockerfileError(
            f"{name}: {len(text)} characters is too large for a Dockerfile",
            hint=f"Dockerfiles over {MAX_DOCKERFILE_CHARS} characters are refused",
        )
    if "\x00" in text:
        raise DockerfileError(f"{name}: binary content (NUL bytes) is not a Dockerfile")
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    directives, first_line = _parse_directives(lines, name)
    escape = directives.get("escape", "\\")
    scanner = _Scanner(lines=lines, escape=escape, position=first_line)
    raw = _read_instructions(scanner)
    if not raw:
        raise DockerfileError(
            f"{name}: no instructions found",
            hint="a Dockerfile needs at least a FROM instruction",
        )
    instructions, stages, global_args = _assemble(raw, scanner)
    return Dockerfile(
        name=name,
        instructions=tuple(instructions),
        stages=tuple(stages),
        directives=directives,
        escape=escape,
        global_args=global_args,
        warnings=tuple(scanner.warnings),
        skips=dockerfile_skips(lines),
    )


def _parse_directives(lines: list[str], name: str) -> tuple[dict[str, str], int]:
    directives: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = _DIRECTIVE_RE.match(line.strip())
        if match is None:
            return directives, index
        key = match.group(1).lower()
        if key not in _KNOWN_DIRECTIVES:
            # An unknown directive is a comment, and ends the directive block.
            return directives, index
        if key in directives:
            raise DockerfileError(
                f"{name}:{index + 1}: the {key!r} parser directive is given twice",
                hint="each parser directive may appear once, at the top of the file",
            )
        value = match.group(2)
        if key == "escape" and value not in ("\\", "`"):
            raise DockerfileError(
                f"{name}:{index + 1}: invalid escape character {value!r}",
                hint="the escape directive accepts a backslash or a backtick",
            )
        directives[key] = value
    return directives, len(lines)


@dataclass
class _Raw:
    keyword: str
    rest: str
    line: int
    end_line: int
    heredocs: list[Heredoc]


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _continues(line: str, escape: str) -> tuple[bool, str]:
    stripped = line.rstrip()
    if stripped.endswith(escape):
        return True, stripped[: -len(escape)]
    return False, line


def _read_instructions(scanner: _Scanner) -> list[_Raw]:
    lines = scanner.lines
    result: list[_Raw] = []
    while scanner.position < len(lines):
        line = lines[scanner.position]
        start = scanner.position
        scanner.position += 1
        if not line.strip() or _is_comment(line):
            continue
        parts: list[str] = []
        more, body = _continues(line, scanner.escape)
        parts.append(body)
        while more and scanner.position < len(lines):
            following = lines[scanner.position]
            scanner.position += 1
            if not following.strip() or _is_comment(following):
                continue
            more, body = _continues(following, scanner.escape)
            parts.append(body)
        logical = "".join(parts).strip()
        keyword, _, rest = logical.partition(" ")
        if "\t" in keyword:
            keyword, _, tail = keyword.partition("\t")
            rest = f"{tail} {rest}" if rest else tail
        keyword = keyword.upper()
        rest = rest.strip()
        end = scanner.position
        heredocs: list[Heredoc] = []
        if keyword in _HEREDOC_INSTRUCTIONS and not rest.startswith("["):
            heredocs = _read_heredocs(rest, scanner)
            end = scanner.position
        result.append(_Raw(keyword, rest, start + 1, end, heredocs))
    return result


def _read_heredocs(rest: str, scanner: _Scanner) -> list[Heredoc]:
    heredocs: list[Heredoc] = []
    for match in _HEREDOC_RE.finditer(rest):
        strip_tabs = match.group(1) == "-"
        word = match.group(3)
        first = scanner.position
        body: list[str] = []
        terminated = False
        while scanner.position < len(scanner.lines):
            line = scanner.lines[scanner.position]
            scanner.position += 1
            candidate = line.lstrip("\t") if strip_tabs else line
            if candidate == word:
                terminated = True
                break
            body.append(candidate)
        if not terminated:
            scanner.warnings.append(f"line {first}: heredoc {word!r} is never terminated")
        heredocs.append(Heredoc(word, "\n".join(body), first + 1, terminated))
    return heredocs


def _split_flags(keyword: str, rest: str, escape: str) -> tuple[tuple[tuple[str, str], ...], str]:
    if keyword not in _FLAG_INSTRUCTIONS:
        return (), rest
    flags: list[tuple[str, str]] = []
    remaining = rest
    while remaining.startswith("--"):
        token, _, after = remaining.partition(" ")
        if "\t" in token:
            token, _, tail = token.partition("\t")
            after = f"{tail} {after}"
        words = split_words(token, escape)
        flag = words[0] if words else token
        key, _, value = flag[2:].partition("=")
        if not key:
            break
        flags.append((key.lower(), value))
        remaining = after.lstrip()
    return tuple(flags), remaining


def _assemble(
    raw: list[_Raw], scanner: _Scanner
) -> tuple[list[Instruction], list[Stage], dict[str, str | None]]:
    instructions: list[Instruction] = []
    stage_heads: list[tuple[Instruction, str, str | None, str | None]] = []
    global_args: dict[str, str | None] = {}
    for item in raw:
        flags, value = _split_flags(item.keyword, item.rest, scanner.escape)
        stage_index = len(stage_heads) - 1
        if item.keyword == "FROM":
            stage_index += 1
        instruction = Instruction(
            keyword=item.keyword,
            value=value,
            line=item.line,
            end_line=item.end_line,
            flags=flags,
            heredocs=tuple(item.heredocs),
            stage=stage_index,
        )
        instructions.append(instruction)
        if item.keyword not in KNOWN_INSTRUCTIONS:
            scanner.warnings.append(f"line {item.line}: unknown instruction {item.keyword!r}")
        if item.keyword == "FROM":
            base, alias = _from_parts(instruction, scanner)
            stage_heads.append((instruction, base, alias, instruction.flag("platform")))
        elif stage_index < 0:
            if item.keyword == "ARG":
                global_args.update(arg_pairs(instruction, scanner.escape))
            else:
                scanner.warnings.append(f"line {item.line}: {item.keyword} before the first FROM")
    stages = [
        Stage(
            index=index,
            base=base,
            name=alias,
            line=head.line,
            platform=platform,
            instructions=tuple(i for i in instructions if i.stage == index),
        )
        for index, (head, base, alias, platform) in enumerate(stage_heads)
    ]
    return instructions, stages, global_args


def _from_parts(instruction: Instruction, scanner: _Scanner) -> tuple[str, str | None]:
    words = split_words(instruction.value, scanner.escape)
    if not words:
        scanner.warnings.append(f"line {instruction.line}: FROM without an image")
        return "", None
    if len(words) == 3 and words[1].lower() == "as":
        return words[0], words[2].lower()
    if len(words) != 1:
        scanner.warnings.append(
            f"line {instruction.line}: FROM expects 'image [AS name]', got {instruction.value!r}"
        )
    return words[0], None


def arg_pairs(instruction: Instruction, escape: str = "\\") -> dict[str, str | None]:
    """``ARG a b=1`` → ``{"a": None, "b": "1"}``."""
    pairs: dict[str, str | None] = {}
    for word in split_words(instruction.value, escape):
        key, eq, value = word.partition("=")
        pairs[key] = value if eq else None
    return pairs


def env_pairs(instruction: Instruction, escape: str = "\\") -> dict[str, str]:
    """``ENV a=1 b="2 3"`` or the legacy ``ENV a 1 2`` → name to value."""
    words = split_words(instruction.value, escape)
    if not words:
        return {}
    if "=" not in words[0]:
        # Legacy form: the first word is the name, everything after it the value.
        _, _, value = instruction.value.strip().partition(" ")
        joined = split_words(value, escape)
        return {words[0]: " ".join(joined)}
    pairs: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs
