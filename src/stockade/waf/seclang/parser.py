"""SecLang text to directives: lines, continuations, quoting and the action list.

Only syntax lives here; what a directive means is the engine's business. Every error
names the file and the line the directive starts on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stockade.waf.errors import SecLangError


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    """Lower-cased action name (``setvar``, ``t``, ``ctl``, …)."""
    value: str
    """The argument with its single quotes removed; empty when there is none."""


def iter_directives(text: str, *, file: str = "<string>") -> Iterator[Directive]:
    """The directives of a SecLang text, continuations joined and quotes removed."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start = index
        line = lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        while parts[-1].endswith("\\") and index < len(lines):
            parts[-1] = parts[-1][:-1]
            parts.append(lines[index].strip())
            index += 1
        if parts[-1].endswith("\\"):
            raise SecLangError("line continuation at end of file", file=file, line=start + 1)
        joined = "".join(_join(parts))
        words = split_arguments(joined, file=file, line=start + 1)
        yield Directive(words[0], tuple(words[1:]), file, start + 1)


def _join(parts: list[str]) -> Iterator[str]:
    # Apache joins continued lines as they are: the backslash goes, the next line's leading
    # whitespace was stripped, so keep one space between words that would otherwise merge.
    for position, part in enumerate(parts):
        if position and part and parts[position - 1] and not parts[position - 1].endswith(" "):
            yield " "
        yield part


def split_arguments(text: str, *, file: str, line: int) -> list[str]:
    """Whitespace-separated words; double-quoted ones may hold spaces and ``\\"``."""
    words: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            i += 1
            chunk: list[str] = []
            while True:
                if i >= n:
                    raise SecLangError("unterminated double quote", file=file, line=line)
                char = text[i]
                if char == "\\" and i + 1 < n and text[i + 1] == '"':
                    chunk.append('"')
                    i += 2
                    continue
                if char == '"':
                    i += 1
                    break
                chunk.append(char)
                i += 1
            words.append("".join(chunk))
        else:
            start = i
            while i < n and text[i] not in " \t":
                i += 1
            words.append(text[start:i])
    if not words:
        raise SecLangError("empty directive", file=file, line=line)
    return words


def parse_actions(text: str, *, file: str, line: int) -> list[Action]:
    """``id:1,phase:2,msg:'a, b',t:none`` as a list of actions (commas in quotes kept)."""
    actions: list[Action] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in ":,":
            i += 1
        name = text[start:i].strip().lower()
        if not name:
            raise SecLangError(f"empty action name in {text!r}", file=file, line=line)
        value = ""
        if i < n and text[i] == ":":
            i += 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] == "'":
                i += 1
                chunk: list[str] = []
                while True:
                    if i >= n:
                        raise SecLangError(
                            f"unterminated single quote in action {name!r}", file=file, line=line
                        )
                    char = text[i]
                    if char == "\\" and i + 1 < n and text[i + 1] == "'":
                        chunk.append("'")
                        i += 2
                        continue
                    if char == "'":
                        i += 1
                        break
                    chunk.append(char)
                    i += 1
                value = "".join(chunk)
            else:
                start = i
                while i < n and text[i] != ",":
                    i += 1
                value = text[start:i].strip()
        actions.append(Action(name, value))
    return actions


def read_rule_file(path: Path) -> str:
    """A rule file's text (Latin-1, so any byte reads), mapping I/O errors to ours."""
    try:
        return path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise SecLangError(f"cannot read rule file: {exc.strerror}", file=str(path)) from exc
