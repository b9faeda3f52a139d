"""What a RUN instruction executes, as simple commands (pure, approximate shell lexing).

Enough of the shell to tell ``apt-get update && apt-get install x`` from
``rm -rf /var/lib/apt``: commands are cut at ``&&``, ``||``, ``;``, ``|``, ``&`` and
newlines outside quotes, and the words a command starts with that do not change what
runs (``sudo``, ``env``, ``VAR=value``, ``then``) are dropped.
"""

from __future__ import annotations

import json
import re
from typing import Final

from stockade.compliance.dockerfile.parser import Instruction, split_words

__all__ = ["run_commands", "split_commands"]

_PREFIX_WORDS: Final = frozenset(
    {"sudo", "env", "exec", "time", "nohup", "then", "do", "else", "!", "{", "(", "command"}
)
_ASSIGNMENT_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS: Final = frozenset({"sh", "bash", "ash", "dash", "zsh", "/bin/sh", "/bin/bash"})


def split_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script, each as its words with prefixes dropped."""
    segments: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(script):
        char = script[i]
        if quote is not None:
            current.append(char)
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"' and i + 1 < len(script):
                i += 1
                current.append(script[i])
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == "\\" and i + 1 < len(script):
            current.append(script[i : i + 2])
            i += 1
        elif char in ";|&\n":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    segments.append("".join(current))
    commands: list[list[str]] = []
    for segment in segments:
        words = split_words(segment)
        while words and (words[0] in _PREFIX_WORDS or _ASSIGNMENT_RE.match(words[0])):
            if words[0] == "sudo":
                words = words[1:]
                while words and words[0].startswith("-"):
                    words = words[1:]
                continue
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def run_commands(instruction: Instruction) -> list[list[str]]:
    """The commands a RUN instruction executes, its heredoc scripts included."""
    if instruction.is_exec_form:
        try:
            argv = json.loads(instruction.value)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            if len(argv) >= 3 and argv[0] in _SHELLS and argv[1] == "-c":
                return split_commands(argv[2])
            return [argv] if argv else []
    commands = split_commands(instruction.value)
    if instruction.heredocs:
        scripted = (
            not commands
            or commands[0][0].startswith("<<")
            or (commands[0][0] in _SHELLS and any(w.startswith("<<") for w in commands[0]))
        )
        if scripted:
            commands = [c for c in commands if not c[0].startswith("<<")]
            for heredoc in instruction.heredocs:
                commands.extend(split_commands(heredoc.body))
    return commands
