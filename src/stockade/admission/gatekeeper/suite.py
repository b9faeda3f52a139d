"""Gatekeeper's test suites (gator's ``Suite``, ``test.gatekeeper.sh/v1alpha1``), run offline.

A suite file names, relative to itself, a template and a constraint per test, and per
case an object to review, optional inventory files and assertions::

    assertions:
    - violations: yes | no | N     # at least one / none / exactly N (default: yes)
      message: REGEX               # count only violations whose message matches

Each test gets a fresh :class:`GatekeeperEngine` holding its template and constraint;
each case reviews its object as a ``CREATE`` request (:func:`request_for_object`), with
the case's inventory as ``data.inventory``. Cases or tests marked ``skip: true`` are
reported as skipped. Problems of one test (a template that does not compile, a missing
file) fail its cases with the reason and do not stop the other tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stockade.admission.gatekeeper.engine import GatekeeperEngine, request_for_object
from stockade.admission.gatekeeper.errors import GatekeeperError, PolicyLoadError
from stockade.admission.gatekeeper.loader import load_file

__all__ = [
    "SUITE_FILE_NAMES",
    "Assertion",
    "CaseResult",
    "Suite",
    "SuiteCase",
    "SuiteTest",
    "find_suites",
    "load_suite",
    "run_suite",
]

SUITE_FILE_NAMES: Final = ("suite.yaml", "suite.yml")
SUITE_GROUP: Final = "test.gatekeeper.sh"


@dataclass(frozen=True, slots=True)
class Assertion:
    """``violations`` is ``"yes"``, ``"no"`` or an exact count; ``message`` a regex."""

    violations: str | int = "yes"
    message: str | None = None

    def describe(self) -> str:
        what = {"yes": "at least one violation", "no": "no violations"}.get(
            str(self.violations), f"{self.violations} violation(s)"
        )
        return what if self.message is None else f"{what} matching {self.message!r}"

    def holds(self, messages: Sequence[str]) -> tuple[bool, int]:
        """Whether the messages satisfy the assertion, and how many were counted."""
        if self.message is None:
            counted = len(messages)
        else:
            pattern = re.compile(self.message)
            counted = sum(1 for m in messages if pattern.search(m))
        if self.violations == "yes":
            return counted > 0, counted
        if self.violations == "no":
            return counted == 0, counted
        return counted == self.violations, counted


@dataclass(frozen=True, slots=True)
class SuiteCase:
    name: str
    object: Path
    inventory: tuple[Path, ...] = ()
    assertions: tuple[Assertion, ...] = ()
    skip: bool = False


@dataclass(frozen=True, slots=True)
class SuiteTest:
    name: str
    template: Path
    constraint: Path
    cases: tuple[SuiteCase, ...] = ()
    skip: bool = False


@dataclass(frozen=True, slots=True)
class Suite:
    path: Path
    name: str
    tests: tuple[SuiteTest, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: ``status`` is ``pass``, ``fail`` or ``skip``."""

    suite: str
    test: str
    case: str
    status: str
    reason: str = ""
    messages: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status != "fail"


def find_suites(paths: Iterable[Path]) -> list[Path]:
    """Suite files named, and those (``suite.yaml``) under directories named, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.name in SUITE_FILE_NAMES and p.is_file())
            )
        elif path.is_file():
            found.append(path)
        else:
            raise PolicyLoadError("no such file or directory", source=str(path))
    return found


def _text(value: Any, where: str, source: str, *, required: bool = True) -> str:
    if isinstance(value, str) and value:
        return value
    if value is None and not required:
        return ""
    raise PolicyLoadError(f"{where} must be a non-empty string", source=source)


def _list(value: Any, where: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PolicyLoadError(f"{where} must be a list", source=source)
    return value


def _assertion(raw: Any, where: str, source: str) -> Assertion:
    if not isinstance(raw, Mapping):
        raise PolicyLoadError(f"{where} must be a mapping", source=source)
    violations = raw.get("violations", "yes")
    # YAML 1.1 reads a bare yes/no as a boolean; gator means the words.
    if violations is True:
        violations = "yes"
    elif violations is False:
        violations = "no"
    if isinstance(violations, str) and violations.isdigit():
        violations = int(violations)
    if not (violations in ("yes", "no") or (isinstance(violations, int) and violations >= 0)):
        raise PolicyLoadError(
            f"{where}.violations must be yes, no or a count, not {violations!r}", source=source
        )
    message = raw.get("message")
    if message is not None:
        message = _text(message, f"{where}.message", source)
        try:
            re.compile(message)
        except re.error as exc:
            raise PolicyLoadError(
                f"{where}.message is not a regular expression: {exc}", source=source
            ) from exc
    return Assertion(violations=violations, message=message)


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file; paths in it are resolved against its directory."""
    source = str(path)
    documents = load_file(path)
    if len(documents) != 1:
        raise PolicyLoadError("a suite file must hold exactly one document", source=source)
    document = documents[0]
    api_version = document.get("apiVersion")
    if document.get("kind") != "Suite" or not (
        isinstance(api_version, str) and api_version.startswith(f"{SUITE_GROUP}/")
    ):
        raise PolicyLoadError(f"not a Suite ({SUITE_GROUP}/v1alpha1, kind Suite)", source=source)
    base = path.parent
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    tests: list[SuiteTest] = []
    for t_index, raw_test in enumerate(_list(document.get("tests"), "tests", source)):
        at = f"tests[{t_index}]"
        if not isinstance(raw_test, Mapping):
            raise PolicyLoadError(f"{at} must be a mapping", source=source)
        cases: list[SuiteCase] = []
        for c_index, raw_case in enumerate(_list(raw_test.get("cases"), f"{at}.cases", source)):
            case_at = f"{at}.cases[{c_index}]"
            if not isinstance(raw_case, Mapping):
                raise PolicyLoadError(f"{case_at} must be a mapping", source=source)
            inventory = _list(raw_case.get("inventory"), f"{case_at}.inventory", source)
            assertions = _list(raw_case.get("assertions"), f"{case_at}.assertions", source)
            cases.append(
                SuiteCase(
                    name=_text(raw_case.get("name"), f"{case_at}.name", source),
                    object=base / _text(raw_case.get("object"), f"{case_at}.object", source),
                    inventory=tuple(
                        base / _text(p, f"{case_at}.inventory[{i}]", source)
                        for i, p in enumerate(inventory)
                    ),
                    assertions=tuple(
                        _assertion(a, f"{case_at}.assertions[{i}]", source)
                        for i, a in enumerate(assertions)
                    ),
                    skip=raw_case.get("skip") is True,
                )
            )
        tests.append(
            SuiteTest(
                name=_text(raw_test.get("name"), f"{at}.name", source),
                template=base / _text(raw_test.get("template"), f"{at}.template", source),
                constraint=base / _text(raw_test.get("constraint"), f"{at}.constraint", source),
                cases=tuple(cases),
                skip=raw_test.get("skip") is True,
            )
        )
    return Suite(
        path=path, name=name if isinstance(name, str) else path.parent.name, tests=tuple(tests)
    )


def _engine_for(test: SuiteTest) -> GatekeeperEngine:
    engine = GatekeeperEngine()
    templates = load_file(test.template)
    if len(templates) != 1:
        raise PolicyLoadError("must hold exactly one ConstraintTemplate", source=str(test.template))
    engine.add_template(templates[0], source=str(test.template))
    constraints = load_file(test.constraint)
    if len(constraints) != 1:
        raise PolicyLoadError("must hold exactly one constraint", source=str(test.constraint))
    engine.add_constraint(constraints[0], source=str(test.constraint))
    return engine


def _run_case(engine: GatekeeperEngine, case: SuiteCase) -> tuple[str, str, tuple[str, ...]]:
    inventory = [obj for path in case.inventory for obj in load_file(path)]
    engine.set_inventory(inventory)
    objects = load_file(case.object)
    if len(objects) != 1:
        raise PolicyLoadError("must hold exactly one object to review", source=str(case.object))
    violations = engine.review(request_for_object(objects[0]))
    messages = tuple(v.message for v in violations)
    for assertion in case.assertions or (Assertion(),):
        holds, counted = assertion.holds(messages)
        if not holds:
            return "fail", f"expected {assertion.describe()}, got {counted}", messages
    return "pass", "", messages


def _run_test(suite: str, test: SuiteTest) -> Iterator[CaseResult]:
    if test.skip:
        for case in test.cases:
            yield CaseResult(suite, test.name, case.name, "skip", "test skipped")
        return
    try:
        engine = _engine_for(test)
    except GatekeeperError as exc:
        for case in test.cases:
            yield CaseResult(suite, test.name, case.name, "fail", exc.message)
        return
    for case in test.cases:
        if case.skip:
            yield CaseResult(suite, test.name, case.name, "skip", "case skipped")
            continue
        try:
            status, reason, messages = _run_case(engine, case)
        except GatekeeperError as exc:
            yield CaseResult(suite, test.name, case.name, "fail", exc.message)
            continue
        yield CaseResult(suite, test.name, case.name, status, reason, messages)


def run_suite(suite: Suite, *, name: str | None = None) -> list[CaseResult]:
    """Every case of the suite, in order; ``name`` labels the results (default: its path)."""
    label = name or str(suite.path)
    return [result for test in suite.tests for result in _run_test(label, test)]
