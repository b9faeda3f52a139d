"""kube-bench benchmark files, read as data, and the evaluator of their tests.

A benchmark directory (kube-bench's ``cfg/cis-1.24``) holds one YAML file per part of
the CIS Kubernetes Benchmark (``master.yaml``, ``node.yaml`` ...). Each file has
``controls``: groups of checks, and each check an ``audit`` shell command, an optional
``audit_config`` command that prints a config file, and ``tests`` on their output.

Everything here is pure: :func:`parse_controls` turns text into :class:`Controls`, and
:func:`evaluate_tests` judges tests against output already captured. Running the audit
commands is :mod:`stockade.compliance.host.audit`'s job.

Test semantics (as the benchmark files use them):

* A ``flag`` item looks for the flag in the audit output, as a whole word: ``--flag``,
  ``--flag=value``, ``flag: value``, ``flag=value``. A flag with no value reads as
  ``true`` when it starts with ``--`` and as the flag's own text otherwise (so
  ``flag: root:root`` matches output ``root:root``).
* A ``path`` item (``{.authentication.anonymous.enabled}``) reads a field of the
  ``audit_config`` output parsed as YAML or JSON. When an item has both, the flag in the
  audit output wins and the config file is the fallback.
* ``set`` (true unless written) says whether the flag must be present; with ``compare``
  the value must also pass ``op``: eq, noteq, gt, gte, lt, lte (integers), has, nothave
  (substring), regex (search), valid_elements (every comma-separated element is in the
  allowed list), bitmask (file mode no more permissive than the octal value).
* ``bin_op`` combines the items: ``and`` (the default) or ``or``.
* ``use_multiple_values`` judges each line of the audit output on its own (one line
  per file a glob matched); every line must pass, and an empty line fails.
* ``env`` items (environment of a process) are not supported: when the flag or path
  of an item with ``env`` is not found, the check is reported as not evaluated rather
  than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stockade.compliance.host.errors import BenchmarkError
from stockade.compliance.yamlload import YamlLoadError, load_documents

__all__ = [
    "COMPARE_OPS",
    "BenchmarkCheck",
    "Compare",
    "Controls",
    "Evaluation",
    "TestItem",
    "Tests",
    "evaluate_check",
    "evaluate_tests",
    "load_benchmark",
    "parse_controls",
]

COMPARE_OPS: Final = frozenset(
    {
        "eq",
        "noteq",
        "gt",
        "gte",
        "lt",
        "lte",
        "has",
        "nothave",
        "regex",
        "valid_elements",
        "bitmask",
    }
)
_BIN_OPS: Final = frozenset({"and", "or"})


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class TestItem:
    flag: str = ""
    path: str = ""
    env: str = ""
    set: bool = True
    compare: Compare | None = None


@dataclass(frozen=True, slots=True)
class Tests:
    items: tuple[TestItem, ...]
    bin_op: str = "and"


@dataclass(frozen=True, slots=True)
class BenchmarkCheck:
    id: str
    text: str
    audit: str = ""
    audit_config: str = ""
    tests: Tests | None = None
    remediation: str = ""
    scored: bool = False
    type: str = ""
    """``manual`` and ``skip`` checks are never evaluated; empty means automated."""
    group: str = ""
    """Id and text of the group: ``4.1 Worker Node Configuration Files``."""
    use_multiple_values: bool = False
    """Each line of the audit output is judged on its own (one per file); all must pass."""


@dataclass(frozen=True, slots=True)
class Controls:
    """One benchmark file: ``master.yaml``, ``node.yaml`` ..."""

    id: str
    text: str
    version: str
    type: str
    checks: tuple[BenchmarkCheck, ...]
    file: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    passed: bool
    """Whether the tests hold; meaningless when ``error`` is set."""
    actual: str = ""
    """What was found, for the report: ``permissions=644``, ``--profiling=true``."""
    error: str = ""
    """Why the tests could not be evaluated (an unsupported item); empty when they were."""


# -- loading -------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(type(value).__name__)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BenchmarkError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BenchmarkError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _field(data: Mapping[str, Any], key: str, where: str) -> str:
    try:
        return _text(data.get(key)).strip() if key != "remediation" else _text(data.get(key))
    except TypeError as exc:
        raise BenchmarkError(f"{where}.{key}: expected a scalar, got {exc}") from exc


def _parse_item(raw: object, where: str) -> TestItem:
    data = _mapping(raw, where)
    compare = None
    if data.get("compare") is not None:
        spec = _mapping(data["compare"], f"{where}.compare")
        op = _field(spec, "op", f"{where}.compare")
        if op not in COMPARE_OPS:
            raise BenchmarkError(f"{where}.compare.op: unknown operation {op!r}")
        compare = Compare(op, _field(spec, "value", f"{where}.compare"))
    set_ = data.get("set", True)
    if not isinstance(set_, bool):
        raise BenchmarkError(f"{where}.set: expected true or false, got {set_!r}")
    item = TestItem(
        flag=_field(data, "flag", where),
        path=_field(data, "path", where),
        env=_field(data, "env", where),
        set=set_,
        compare=compare,
    )
    if not (item.flag or item.path or item.env):
        raise BenchmarkError(f"{where}: a test item needs a flag, a path or an env")
    return item


def _parse_tests(raw: object, where: str) -> Tests | None:
    if raw is None:
        return None
    data = _mapping(raw, where)
    bin_op = _field(data, "bin_op", where) or "and"
    if bin_op not in _BIN_OPS:
        raise BenchmarkError(f"{where}.bin_op: expected and or or, got {bin_op!r}")
    items = _list(data.get("test_items"), f"{where}.test_items")
    return Tests(
        tuple(_parse_item(item, f"{where}.test_items[{i}]") for i, item in enumerate(items)),
        bin_op,
    )


def parse_controls(text: str | bytes, *, name: str = "<benchmark>") -> Controls:
    """One benchmark file's controls. Raises :class:`BenchmarkError` if it is not one."""
    try:
        documents = load_documents(text, name=name)
    except YamlLoadError as exc:
        raise BenchmarkError(exc.message, exc.hint) from exc
    if len(documents) != 1:
        raise BenchmarkError(f"{name}: expected one YAML document, got {len(documents)}")
    top = _mapping(documents[0].data, name)
    checks: list[BenchmarkCheck] = []
    for g, raw_group in enumerate(_list(top.get("groups"), f"{name}: groups")):
        where = f"{name}: groups[{g}]"
        group = _mapping(raw_group, where)
        label = f"{_field(group, 'id', where)} {_field(group, 'text', where)}".strip()
        for c, raw_check in enumerate(_list(group.get("checks"), f"{where}.checks")):
            at = f"{where}.checks[{c}]"
            check = _mapping(raw_check, at)
            check_id = _field(check, "id", at)
            if not check_id:
                raise BenchmarkError(f"{at}: a check needs an id")
            scored = check.get("scored", False)
            checks.append(
                BenchmarkCheck(
                    id=check_id,
                    text=_field(check, "text", at),
                    audit=_field(check, "audit", at),
                    audit_config=_field(check, "audit_config", at),
                    tests=_parse_tests(check.get("tests"), f"{at}.tests"),
                    remediation=_field(check, "remediation", at).strip(),
                    scored=scored is True,
                    type=_field(check, "type", at).lower(),
                    group=label,
                    use_multiple_values=check.get("use_multiple_values") is True,
                )
            )
    return Controls(
        id=_field(top, "id", name),
        text=_field(top, "text", name),
        version=_field(top, "version", name),
        type=_field(top, "type", name),
        checks=tuple(checks),
        file=name,
    )


def load_benchmark(directory: Path) -> tuple[Controls, ...]:
    """Every controls file in a benchmark directory (``config.yaml`` is settings, skipped)."""
    try:
        files = sorted(p for p in directory.glob("*.yaml") if p.name != "config.yaml")
    except OSError as exc:
        raise BenchmarkError(f"{directory}: cannot list: {exc.strerror}") from exc
    if not files:
        raise BenchmarkError(
            f"{directory}: no benchmark files (*.yaml)",
            "pass a kube-bench cfg/<benchmark> directory such as cfg/cis-1.24",
        )
    controls = []
    for path in files:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise BenchmarkError(f"{path}: cannot read: {exc.strerror}") from exc
        controls.append(parse_controls(text, name=str(path)))
    return tuple(controls)


# -- evaluating ----------------------------------------------------------------------

_SIMPLE_PATH: Final = re.compile(r"\{\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\}\Z")
_JOINED_LIST_PATH: Final = re.compile(
    r"\{range \.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\[:\]\}\{\}\{'(.)'\}\{end\}\Z"
)


class _Unsupported(Exception):
    pass


def _find_flag(flag: str, output: str) -> str | None:
    """The flag's value in ``output``, or None when the flag is not there."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(flag)}(?![\w-])(?:(?:=|:[ \t]*)(\S*))?")
    match = pattern.search(output)
    if match is None:
        return None
    if match.group(1):
        return match.group(1)
    return "true" if flag.startswith("--") else flag


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return ""


def _find_path(path: str, config_output: str) -> str | None:
    expression = _SIMPLE_PATH.match(path) or _JOINED_LIST_PATH.match(path)
    if expression is None:
        raise _Unsupported(f"path expression {path!r} is not supported")
    if not config_output.strip():
        return None
    try:
        documents = load_documents(config_output, name="audit_config output")
    except YamlLoadError:
        return None
    value: object = documents[0].data if documents else None
    keys = expression.group(1).split(".")
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if expression.re is _JOINED_LIST_PATH:
        if not isinstance(value, list):
            return None
        return expression.group(2).join(_scalar(v) for v in value)
    if isinstance(value, Mapping | list) or value is None:
        return None
    return _scalar(value)


def _integer(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _compare(op: str, actual: str, expected: str) -> bool:
    if op in ("eq", "noteq"):
        if actual.lower() in ("true", "false"):  # booleans compare case-insensitively
            same = actual.lower() == expected.lower()
        else:
            same = actual == expected
        return same if op == "eq" else not same
    if op in ("gt", "gte", "lt", "lte"):
        a, e = _integer(actual), _integer(expected)
        if a is None or e is None:
            return False
        return {"gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[op]
    if op == "has":
        return expected in actual
    if op == "nothave":
        return expected not in actual
    if op == "regex":
        try:
            return re.search(expected, actual) is not None
        except re.error:
            return False
    if op == "valid_elements":
        allowed = {e.strip() for e in expected.split(",")}
        elements = [e.strip() for e in actual.split(",") if e.strip()]
        return bool(elements) and all(e in allowed for e in elements)
    if op == "bitmask":
        try:
            mode, mask = int(actual, 8), int(expected, 8)
        except ValueError:
            return False
        return mode & ~mask == 0
    raise _Unsupported(f"compare op {op!r}")  # pragma: no cover - rejected when parsed


def _evaluate_item(item: TestItem, output: str, config_output: str) -> tuple[bool, str]:
    if not item.flag and not item.path:
        raise _Unsupported(f"env test {item.env!r}")
    value: str | None = None
    shown = item.flag or item.path
    if item.flag:
        value = _find_flag(item.flag, output)
    if value is None and item.path:
        # A path reads the config file's text; a path-only item with no audit_config
        # reads the audit's own output.
        source = config_output if config_output or item.flag else output
        value = _find_path(item.path, source)
        shown = item.path if value is not None or not item.flag else shown
    if value is None and item.env:
        # kube-bench would read the process's environment next; guessing "not set"
        # could pass or fail the check wrongly, so it is reported as not evaluated.
        raise _Unsupported(f"{shown} not found and env test {item.env!r}")
    if value is None:
        return (not item.set, f"{shown} not set")
    if not item.set:
        return (False, f"{shown}={value}")
    if item.compare is None:
        return (True, f"{shown}={value}")
    return (_compare(item.compare.op, value, item.compare.value), f"{shown}={value}")


def evaluate_tests(tests: Tests, output: str, config_output: str = "") -> Evaluation:
    """Judge ``tests`` against an audit's ``output`` (and ``audit_config``'s output)."""
    if not tests.items:
        return Evaluation(False, error="the check has no test items")
    outcomes: list[bool] = []
    seen: list[str] = []
    try:
        for item in tests.items:
            ok, actual = _evaluate_item(item, output, config_output)
            outcomes.append(ok)
            seen.append(actual)
    except _Unsupported as exc:
        return Evaluation(False, error=f"not evaluated: {exc}")
    passed = all(outcomes) if tests.bin_op == "and" else any(outcomes)
    return Evaluation(passed, "; ".join(dict.fromkeys(seen)))


def evaluate_check(check: BenchmarkCheck, output: str, config_output: str = "") -> Evaluation:
    """Judge ``check``'s tests against its audits' outputs (see the module's notes)."""
    if check.tests is None:
        return Evaluation(False, error="the check has no tests")
    if not check.use_multiple_values:
        return evaluate_tests(check.tests, output, config_output)
    lines = output.rstrip("\n").split("\n")
    if not any(lines):
        return Evaluation(False, "no output")
    evaluations = [
        evaluate_tests(check.tests, line, config_output) if line.strip() else Evaluation(False)
        for line in lines
    ]
    errors = [e.error for e in evaluations if e.error]
    if errors:
        return Evaluation(False, error=errors[0])
    failing = [e.actual or "empty line" for e in evaluations if not e.passed]
    if failing:
        return Evaluation(False, "; ".join(dict.fromkeys(failing)))
    return Evaluation(True, "; ".join(dict.fromkeys(e.actual for e in evaluations)))
