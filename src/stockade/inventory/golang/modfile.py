"""``go.mod`` and ``go.sum``: the declared module graph of a Go source tree.

``go.mod`` is line-oriented: a directive (``module``, ``go``, ``toolchain``, ``require``,
``replace``, …) and its arguments, or a parenthesised block of them; ``//`` starts a
comment, and a requirement whose comment is ``indirect`` is an indirect dependency.
Arguments may be quoted Go strings. Directives this reader does not need are skipped, so
files written by newer Go releases still read.

``go.sum`` lists a checksum per module version the build may need (``path version hash``
and ``path version/go.mod hash``), sorted, so the last line of a module names its highest
version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stockade.core.errors import CatalogError


@dataclass(frozen=True, slots=True)
class Requirement:
    path: str
    version: str
    indirect: bool = False


@dataclass(frozen=True, slots=True)
class Replacement:
    old_path: str
    old_version: str
    """Empty when the directive replaces every version of ``old_path``."""
    new_path: str
    new_version: str
    """Empty when the replacement is a local directory."""


@dataclass(frozen=True, slots=True)
class GoMod:
    module: str = ""
    go: str = ""
    toolchain: str = ""
    requires: tuple[Requirement, ...] = ()
    replaces: tuple[Replacement, ...] = field(default=())

    @property
    def before_go_117(self) -> bool:
        """Whether this module predates module graph pruning (Go 1.17).

        Before 1.17 ``go.mod`` did not list every indirect dependency, so ``go.sum`` is
        needed to know them. A file without a ``go`` line is that old too.
        """
        if not self.go:
            return True
        parts = self.go.split(".")
        try:
            major, minor = int(parts[0]), int(parts[1].split("rc")[0].split("beta")[0])
        except (IndexError, ValueError):
            return False
        return (major, minor) < (1, 17)


def parse_go_mod(text: str) -> GoMod:
    """Parse ``go.mod`` text; CatalogError if it is not valid go.mod syntax."""
    module = go = toolchain = ""
    requires: list[Requirement] = []
    replaces: list[Replacement] = []
    block: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        tokens, comment = _tokenize(line, number)
        if not tokens:
            continue
        if block is not None:
            if tokens == [")"]:
                block = None
                continue
            verb, args = block, tokens
        else:
            verb, args = tokens[0], tokens[1:]
            if args == ["("]:
                block = verb
                continue
            if args == ["(", ")"]:
                continue
        if "(" in args or ")" in args:
            raise CatalogError(f"go.mod line {number}: unexpected parenthesis")
        if verb == "module":
            module = _one(args, verb, number)
        elif verb == "go":
            go = _one(args, verb, number)
        elif verb == "toolchain":
            toolchain = _one(args, verb, number)
        elif verb == "require":
            if len(args) != 2:
                raise CatalogError(f"go.mod line {number}: require needs a path and a version")
            requires.append(Requirement(args[0], args[1], _is_indirect(comment)))
        elif verb == "replace":
            replaces.append(_replacement(args, number))
        # exclude, retract, godebug, tool, ignore and future directives: not needed here.
    if block is not None:
        raise CatalogError(f"go.mod: {block} block is not closed", hint="the file is truncated")
    return GoMod(
        module=module,
        go=go,
        toolchain=toolchain,
        requires=tuple(requires),
        replaces=tuple(replaces),
    )


def _one(args: list[str], verb: str, number: int) -> str:
    if len(args) != 1:
        raise CatalogError(f"go.mod line {number}: {verb} takes one argument")
    return args[0]


def _replacement(args: list[str], number: int) -> Replacement:
    if "=>" not in args:
        raise CatalogError(f"go.mod line {number}: replace without =>")
    arrow = args.index("=>")
    old, new = args[:arrow], args[arrow + 1 :]
    if len(old) not in (1, 2) or len(new) not in (1, 2):
        raise CatalogError(f"go.mod line {number}: malformed replace directive")
    return Replacement(
        old_path=old[0],
        old_version=old[1] if len(old) == 2 else "",
        new_path=new[0],
        new_version=new[1] if len(new) == 2 else "",
    )


def _is_indirect(comment: str | None) -> bool:
    if comment is None:
        return False
    text = comment.strip()
    return text == "indirect" or text.startswith("indirect;")


def _tokenize(line: str, number: int) -> tuple[list[str], str | None]:
    """Split one line into tokens and its trailing ``//`` comment (without the slashes)."""
    tokens: list[str] = []
    i = 0
    length = len(line)
    while i < length:
        ch = line[i]
        if ch in " \t\r":
            i += 1
        elif line.startswith("//", i):
            return tokens, line[i + 2 :]
        elif ch in "()":
            tokens.append(ch)
            i += 1
        elif ch == '"':
            end = i + 1
            while end < length and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= length:
                raise CatalogError(f"go.mod line {number}: unterminated string")
            tokens.append(_unescape(line[i + 1 : end]))
            i = end + 1
        elif ch == "`":
            end = line.find("`", i + 1)
            if end < 0:
                raise CatalogError(f"go.mod line {number}: unterminated raw string")
            tokens.append(line[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < length and line[end] not in ' \t\r()"`' and not line.startswith("//", end):
                end += 1
            tokens.append(line[i:end])
            i = end
    return tokens, None


def _unescape(body: str) -> str:
    # Module paths and versions never need escapes; keep the escaped character itself.
    out = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def parse_go_sum(text: str) -> dict[str, str]:
    """Module path → the last (highest) version ``go.sum`` lists for it."""
    versions: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or not fields[1].startswith("v") or ":" not in fields[2]:
            raise CatalogError(
                f"go.sum line {number}: expected 'module version hash'",
                hint="the file is not a go.sum file, or it is corrupt",
            )
        versions[fields[0]] = fields[1].removesuffix("/go.mod")
    return versions
