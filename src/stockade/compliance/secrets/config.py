"""Loading secret rules in gitleaks' TOML format, and the default rule set that ships.

The format is gitleaks' own (``[[rules]]`` with ``id``, ``regex``, ``secretGroup``,
``entropy``, ``keywords``, ``path``, ``tags``, ``[[rules.allowlists]]``; global
``[[allowlists]]`` or the older ``[allowlist]``; ``[extend]`` with ``useDefault``,
``path`` and ``disabledRules``), so a team's existing ``.gitleaks.toml`` works as is.
What is checked, and how ``[extend]`` merges, follows gitleaks v8: see docs/secrets.md.

Every problem is a :class:`~stockade.compliance.secrets.errors.RuleError` that names the
file and the rule; nothing else escapes, whatever the input.
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

from stockade.compliance.secrets import syntax
from stockade.compliance.secrets.errors import RuleError
from stockade.compliance.secrets.model import (
    Allowlist,
    Condition,
    RegexTarget,
    Required,
    Rule,
    RuleId,
    RuleSet,
)

DEFAULT_SOURCE: Final = "default"
BUILTIN_PROFILES: Final = ("default", "thorough")
"""The rule sets shipped in the package, by name: ``default`` is gitleaks' default config;
``thorough`` extends it with detect-secrets-like rules (keyword assignments, high-entropy
strings, AWS key ids without an entropy floor). See docs/secrets.md."""
_PROFILE_FILES: Final = {"default": "gitleaks.toml", "thorough": "thorough.toml"}
MAX_EXTEND_DEPTH: Final = 2
"""As gitleaks: a config may extend one that extends one more; deeper ``[extend]`` is
ignored (with a warning)."""
MAX_CONFIG_BYTES: Final = 16 * 1024**2

_RULE_KEYS: Final = frozenset(
    {
        "id",
        "description",
        "regex",
        "path",
        "secretgroup",
        "entropy",
        "keywords",
        "tags",
        "allowlist",
        "allowlists",
        "required",
        "skipreport",
    }
)
_ALLOWLIST_KEYS: Final = frozenset(
    {"description", "condition", "commits", "paths", "regextarget", "regexes", "stopwords"}
)
_TOP_KEYS: Final = frozenset(
    {"title", "description", "minversion", "extend", "rules", "allowlist", "allowlists"}
)
_EXTEND_KEYS: Final = frozenset({"path", "url", "usedefault", "disabledrules"})
_REQUIRED_KEYS: Final = frozenset({"id", "withinlines", "withincolumns"})


def default_rules_path() -> Path:
    """The gitleaks default configuration shipped inside the package (MIT, see beside it)."""
    return builtin_rules_path(DEFAULT_SOURCE)


def builtin_rules_path(name: str) -> Path:
    """The file of the built-in profile ``name`` (one of :data:`BUILTIN_PROFILES`)."""
    file = _PROFILE_FILES.get(name)
    if file is None:
        raise RuleError(
            f"unknown built-in rule profile {name!r}",
            f"choose one of {', '.join(BUILTIN_PROFILES)}, or give a rules file",
        )
    return Path(str(resources.files("stockade.compliance.secrets") / "data" / file))


@functools.cache
def default_rules() -> RuleSet:
    """gitleaks' default rule set (loaded once)."""
    return _load(_read_default(), source=DEFAULT_SOURCE, base_dir=None)


@functools.cache
def builtin_rules(name: str = DEFAULT_SOURCE) -> RuleSet:
    """The built-in profile ``name`` (loaded once): ``default`` or ``thorough``.

    Raises :class:`RuleError` for a name not in :data:`BUILTIN_PROFILES`.
    """
    if name == DEFAULT_SOURCE:
        return default_rules()
    text = builtin_rules_path(name).read_text(encoding="utf-8")
    return _load(text, source=name, base_dir=None)


def load_rules(path: str | os.PathLike[str] | None = None) -> RuleSet:
    """The rules in the gitleaks TOML file at ``path``, or the default rules when None.

    ``path`` is always a file; a built-in profile is :func:`builtin_rules` (a file
    named ``thorough`` in the working directory stays a file).
    """
    if path is None:
        return default_rules()
    file = Path(path)
    return _load(_read_file(file, source=str(file)), source=str(file), base_dir=file.parent)


def parse_rules(text: str, *, source: str = "<string>", base_dir: Path | None = None) -> RuleSet:
    """Rules from TOML text; ``[extend] path`` is resolved against ``base_dir`` first."""
    return _load(text, source=source, base_dir=base_dir)


# --- reading ------------------------------------------------------------------------------


def _read_default() -> str:
    return default_rules_path().read_text(encoding="utf-8")


def _read_file(file: Path, *, source: str) -> str:
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise RuleError(
            f"cannot read the rules file: {exc.strerror or exc}",
            "check the path given to --config",
            source=source,
        ) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise RuleError(f"rules file larger than {MAX_CONFIG_BYTES} bytes", source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"rules file is not UTF-8 ({exc.reason})", source=source) from exc


def _load(text: str, *, source: str, base_dir: Path | None) -> RuleSet:
    built = _Builder(source, base_dir).build(text, depth=0)
    return built.finish()


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"not valid TOML: {exc}", source=source) from exc
    except (RecursionError, ValueError) as exc:
        raise RuleError(f"not readable TOML: {exc}", source=source) from exc


@functools.lru_cache(maxsize=8192)
def parse_pattern(pattern: str) -> syntax.Regex:
    """Parse (and cache) an RE2 pattern; shared with the detector."""
    return syntax.parse(pattern)


# --- typed access to TOML values ------------------------------------------------------------


def _lower_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    # gitleaks reads its config through viper, which ignores the case of keys.
    return {str(key).lower(): value for key, value in table.items()}


@dataclass(slots=True)
class _Context:
    source: str
    rule_id: str | None = None

    def error(self, message: str) -> RuleError:
        return RuleError(message, rule_id=self.rule_id, source=self.source)


def _string(value: Any, key: str, ctx: _Context) -> str:
    if isinstance(value, str):
        return value
    raise ctx.error(f"|{key}| must be a string, not {type(value).__name__}")


def _strings(value: Any, key: str, ctx: _Context) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)  # viper turns a lone string into a list
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ctx.error(f"|{key}| must be a list of strings")


def _integer(value: Any, key: str, ctx: _Context) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ctx.error(f"|{key}| must be an integer")
    try:
        return int(value)
    except ValueError as exc:
        raise ctx.error(f"|{key}| must be an integer, not {value!r}") from exc


def _number(value: Any, key: str, ctx: _Context) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ctx.error(f"|{key}| must be a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise ctx.error(f"|{key}| must be a number, not {value!r}") from exc
    if not math.isfinite(number):
        raise ctx.error(f"|{key}| must be a finite number")
    return number


def _boolean(value: Any, key: str, ctx: _Context) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ctx.error(f"|{key}| must be true or false")


def _table(value: Any, key: str, ctx: _Context) -> dict[str, Any]:
    if isinstance(value, dict):
        return _lower_keys(value)
    raise ctx.error(f"[{key}] must be a table")


def _tables(value: Any, key: str, ctx: _Context) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [_lower_keys(value)]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return [_lower_keys(item) for item in value]
    raise ctx.error(f"[[{key}]] must be an array of tables")


def _pattern(value: Any, key: str, ctx: _Context) -> str:
    pattern = _string(value, key, ctx)
    try:
        parse_pattern(pattern)
    except syntax.RegexSyntaxError as exc:
        shown = pattern if len(pattern) <= 120 else pattern[:117] + "..."
        raise ctx.error(f"invalid |{key}| {shown!r}: {exc}") from exc
    return pattern


# --- building ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Built:
    source: str
    title: str = ""
    rules: dict[str, Rule] = field(default_factory=dict)
    allowlists: list[Allowlist] = field(default_factory=list)
    targeted: list[Allowlist] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extended: bool = False

    def finish(self) -> RuleSet:
        rules = dict(self.rules)
        for rule_id, rule in list(rules.items()):
            if rule.regex is None and rule.path is None and self.extended:
                # gitleaks skips validation once [extend] is used, so such a rule loads
                # there and never matches; keep those configs loading, and say so.
                self.warnings.append(
                    f"{self.source}: rule {rule_id!r} has neither |regex| nor |path| and "
                    "no rule of that id in the extended config; it has no effect and is ignored"
                )
                del rules[rule_id]
                continue
            _validate(rule, self.source)
        for allowlist in self.targeted:
            for rule_id in allowlist.target_rules:
                target = rules.get(rule_id)
                if target is None:
                    raise RuleError(
                        f"[[allowlists]] target rule ID {rule_id!r} does not exist",
                        source=self.source,
                    )
                rules[rule_id] = replace(target, allowlists=(*target.allowlists, allowlist))
        for rule in rules.values():
            for required in rule.required:
                if required.rule_id not in rules:
                    raise RuleError(
                        f"[[rules.required]] rule ID {required.rule_id!r} does not exist",
                        rule_id=rule.id,
                        source=self.source,
                    )
        ordered = sorted(rules.values(), key=lambda r: r.id) if self.extended else rules.values()
        return RuleSet(
            rules=tuple(ordered),
            allowlists=tuple(self.allowlists),
            title=self.title,
            source=self.source,
            warnings=tuple(self.warnings),
        )


def _validate(rule: Rule, source: str) -> None:
    if rule.regex is None and rule.path is None:
        raise RuleError(
            "both |regex| and |path| are empty, this rule will have no effect",
            rule_id=rule.id,
            source=source,
        )
    if rule.regex is not None:
        groups = parse_pattern(rule.regex).groups
        if rule.secret_group > groups:
            raise RuleError(
                f"invalid regex secret group {rule.secret_group}, max regex secret group {groups}",
                rule_id=rule.id,
                source=source,
            )


class _Builder:
    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir

    def build(self, text: str, *, depth: int) -> _Built:
        document = _lower_keys(_parse_toml(text, self.source))
        ctx = _Context(self.source)
        built = _Built(self.source)
        for key in sorted(set(document) - _TOP_KEYS):
            built.warnings.append(f"{self.source}: unknown key {key!r} ignored")
        if "title" in document:
            built.title = _string(document["title"], "title", ctx)
        for entry in _tables(document.get("rules", []), "rules", ctx):
            rule = self._rule(entry, built)
            if rule.id in built.rules:
                built.warnings.append(
                    f"{self.source}: rule {rule.id!r} is defined twice; the last one is used"
                )
            built.rules[rule.id] = rule
        self._global_allowlists(document, built, ctx)
        if "extend" in document:
            self._extend(_table(document["extend"], "extend", ctx), built, depth, ctx)
        return built

    # -- rules

    def _rule(self, entry: dict[str, Any], built: _Built) -> Rule:
        ctx = _Context(self.source)
        raw_id = entry.get("id", "")
        rule_id = raw_id.strip() if isinstance(raw_id, str) else ""
        if not rule_id:
            context = ""
            for key in ("regex", "path", "description"):
                if isinstance(entry.get(key), str) and entry[key]:
                    context = f", {key}: {entry[key]}"
                    break
            raise ctx.error(f"rule |id| is missing or empty{context}")
        ctx.rule_id = rule_id
        for key in sorted(set(entry) - _RULE_KEYS):
            built.warnings.append(f"{self.source}: rule {rule_id!r}: unknown key {key!r} ignored")
        regex = _pattern(entry["regex"], "regex", ctx) if entry.get("regex") else None
        path = _pattern(entry["path"], "path", ctx) if entry.get("path") else None
        secret_group = _integer(entry.get("secretgroup", 0), "secretGroup", ctx)
        if secret_group < 0:
            raise ctx.error(f"invalid regex secret group {secret_group}")
        entropy = _number(entry.get("entropy", 0), "entropy", ctx)
        if entropy < 0:
            raise ctx.error(f"|entropy| must not be negative, not {entropy}")
        keywords = tuple(k.lower() for k in _strings(entry.get("keywords", []), "keywords", ctx))
        if any(not k for k in keywords):
            raise ctx.error("|keywords| must not contain an empty keyword")
        tags = _strings(entry.get("tags", []), "tags", ctx)
        if "allowlist" in entry and "allowlists" in entry:
            raise ctx.error(
                "[rules.allowlist] is deprecated, it cannot be used alongside [[rules.allowlist]]"
            )
        allowlists = tuple(
            _allowlist(table, "rules.allowlists", ctx, built, self.source)
            for key in ("allowlist", "allowlists")
            if key in entry
            for table in _tables(entry[key], f"rules.{key}", ctx)
        )
        required = tuple(
            _required(table, ctx, built, self.source)
            for table in _tables(entry.get("required", []), "rules.required", ctx)
        )
        return Rule(
            id=RuleId(rule_id),
            description=_string(entry.get("description", ""), "description", ctx),
            regex=regex,
            path=path,
            secret_group=secret_group,
            entropy=entropy,
            keywords=keywords,
            tags=tags,
            allowlists=allowlists,
            required=required,
            skip_report=_boolean(entry.get("skipreport", False), "skipReport", ctx),
        )

    def _global_allowlists(self, document: dict[str, Any], built: _Built, ctx: _Context) -> None:
        if "allowlist" in document and "allowlists" in document:
            raise ctx.error("[allowlist] is deprecated, it cannot be used alongside [[allowlists]]")
        for key in ("allowlist", "allowlists"):
            if key not in document:
                continue
            for table in _tables(document[key], key, ctx):
                allowlist = _allowlist(table, "allowlists", ctx, built, self.source, glob=True)
                if allowlist.target_rules:
                    built.targeted.append(allowlist)
                else:
                    built.allowlists.append(allowlist)

    # -- extend

    def _extend(self, extend: dict[str, Any], built: _Built, depth: int, ctx: _Context) -> None:
        for key in sorted(set(extend) - _EXTEND_KEYS):
            built.warnings.append(f"{self.source}: [extend] unknown key {key!r} ignored")
        path = _string(extend.get("path", ""), "extend.path", ctx)
        use_default = _boolean(extend.get("usedefault", False), "extend.useDefault", ctx)
        disabled = _strings(extend.get("disabledrules", []), "extend.disabledRules", ctx)
        if extend.get("url"):
            built.warnings.append(f"{self.source}: [extend] url is not supported; ignored")
        if not path and not use_default:
            return
        if depth >= MAX_EXTEND_DEPTH:
            built.warnings.append(
                f"{self.source}: [extend] ignored: configs extend at most "
                f"{MAX_EXTEND_DEPTH} levels deep"
            )
            return
        if path and use_default:
            raise ctx.error(
                "unable to load config due to extend.path and extend.useDefault being set"
            )
        if use_default:
            base = _Builder(DEFAULT_SOURCE, None).build(_read_default(), depth=depth + 1)
        else:
            file = self._resolve(path, ctx)
            base = _Builder(str(file), file.parent).build(
                _read_file(file, source=str(file)), depth=depth + 1
            )
        _merge(built, base, disabled)

    def _resolve(self, path: str, ctx: _Context) -> Path:
        candidate = Path(path)
        # gitleaks resolves against the working directory; a path next to the extending
        # file is what most users mean, so that is tried first.
        nearby = None if self.base_dir is None else self.base_dir / candidate
        if not candidate.is_absolute() and nearby is not None and nearby.is_file():
            return nearby
        if candidate.is_file():
            return candidate
        raise ctx.error(f"failed to load extended config, {path!r} does not exist")


def _allowlist(
    table: dict[str, Any],
    where: str,
    ctx: _Context,
    built: _Built,
    source: str,
    *,
    glob: bool = False,
) -> Allowlist:
    known = _ALLOWLIST_KEYS | ({"targetrules"} if glob else set())
    for key in sorted(set(table) - known):
        built.warnings.append(f"{source}: [{where}] unknown key {key!r} ignored")
    condition_text = _string(table.get("condition", ""), "condition", ctx).upper()
    if condition_text in ("AND", "&&"):
        condition = Condition.AND
    elif condition_text in ("", "OR", "||"):
        condition = Condition.OR
    else:
        raise ctx.error(
            f"[[{where}]] unknown allowlist |condition| {table['condition']!r} "
            "(expected 'and', 'or')"
        )
    target_text = _string(table.get("regextarget", ""), "regexTarget", ctx)
    targets = {"": RegexTarget.SECRET, "secret": RegexTarget.SECRET}
    targets |= {"match": RegexTarget.MATCH, "line": RegexTarget.LINE}
    if target_text not in targets:
        raise ctx.error(
            f"[[{where}]] unknown allowlist |regexTarget| {target_text!r} "
            "(expected 'match', 'line')"
        )
    commits = _strings(table.get("commits", []), "commits", ctx)
    paths = tuple(_pattern(p, "paths", ctx) for p in _strings(table.get("paths", []), "paths", ctx))
    regexes = tuple(
        _pattern(r, "regexes", ctx) for r in _strings(table.get("regexes", []), "regexes", ctx)
    )
    stopwords = _strings(table.get("stopwords", []), "stopwords", ctx)
    if not (commits or paths or regexes or stopwords):
        raise ctx.error(
            f"[[{where}]] must contain at least one check for: commits, paths, regexes, "
            "or stopwords"
        )
    targets_rules = _strings(table.get("targetrules", []), "targetRules", ctx) if glob else ()
    return Allowlist(
        description=_string(table.get("description", ""), "description", ctx),
        condition=condition,
        commits=tuple(dict.fromkeys(c.strip().lower() for c in commits)),
        paths=paths,
        regex_target=targets[target_text],
        regexes=regexes,
        stopwords=tuple(dict.fromkeys(w.lower() for w in stopwords if w)),
        target_rules=tuple(RuleId(r) for r in targets_rules),
    )


def _required(table: dict[str, Any], ctx: _Context, built: _Built, source: str) -> Required:
    for key in sorted(set(table) - _REQUIRED_KEYS):
        built.warnings.append(f"{source}: [[rules.required]] unknown key {key!r} ignored")
    rule_id = _string(table.get("id", ""), "required.id", ctx).strip()
    if not rule_id:
        raise ctx.error("[[rules.required]] rule ID is empty")
    lines = table.get("withinlines")
    columns = table.get("withincolumns")
    return Required(
        rule_id=RuleId(rule_id),
        within_lines=None if lines is None else _integer(lines, "withinLines", ctx),
        within_columns=None if columns is None else _integer(columns, "withinColumns", ctx),
    )


def _merge(built: _Built, base: _Built, disabled: tuple[str, ...]) -> None:
    """Fold the extended config ``base`` into ``built``, as gitleaks' ``extend`` does."""
    for rule_id in disabled:
        if rule_id not in base.rules:
            built.warnings.append(
                f"{built.source}: disabled rule {rule_id!r} does not exist in {base.source}"
            )
    merged: dict[str, Rule] = dict(built.rules)
    for rule_id, base_rule in base.rules.items():
        if rule_id in disabled:
            continue
        current = built.rules.get(rule_id)
        if current is None:
            merged[rule_id] = base_rule
            continue
        merged[rule_id] = replace(
            base_rule,
            description=current.description or base_rule.description,
            entropy=current.entropy or base_rule.entropy,
            secret_group=current.secret_group or base_rule.secret_group,
            regex=current.regex if current.regex is not None else base_rule.regex,
            path=current.path if current.path is not None else base_rule.path,
            tags=(*base_rule.tags, *current.tags),
            keywords=(*base_rule.keywords, *current.keywords),
            allowlists=(*base_rule.allowlists, *current.allowlists),
            required=current.required or base_rule.required,
            skip_report=current.skip_report or base_rule.skip_report,
        )
    built.rules = merged
    built.allowlists.extend(base.allowlists)
    built.targeted.extend(base.targeted)
    built.warnings.extend(base.warnings)
    built.extended = True
