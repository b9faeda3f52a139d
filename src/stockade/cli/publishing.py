"""The Console options ``scan`` and ``check`` share: publishing a result
(``--publish URL``) and gating on the Console's policy (``--policy-from URL``).

Nothing here is imported unless one of the options is given: a scan that talks to no
Console does not pay for the Console's modules.

Exit status :data:`EXIT_CONSOLE` (4) means the Console could not be reached or refused
the request, and nothing failed the gate: the report was still written first.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stockade.cli.output import UI
from stockade.core.errors import PolicyFailure, StockadeError, UsageError

if TYPE_CHECKING:
    from stockade.console.policies.model import Kind, Verdict

__all__ = [
    "EXIT_CONSOLE",
    "TOKEN_VARIABLE",
    "ConsoleOptions",
    "Outcome",
    "Target",
    "console_options",
    "finish",
    "image_references",
    "talk_to_console",
]

EXIT_CONSOLE = 4
TOKEN_VARIABLE = "STOCKADE_CONSOLE_TOKEN"  # noqa: S105  # the variable's name


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    publish: str | None
    token: str | None
    console_ca: Path | None
    policy_from: str | None
    namespace: str | None
    labels: tuple[str, ...]
    host: str | None

    @property
    def wanted(self) -> bool:
        return bool(self.publish or self.policy_from)

    @property
    def label_map(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for label in self.labels:
            key, _, value = label.partition("=")
            labels[key] = value
        return labels

    def validate(self) -> None:
        """Refuse a command line that cannot work, before the scan runs."""
        if self.wanted and not self.token:
            raise UsageError(
                "--publish and --policy-from need an API token",
                hint=f"set {TOKEN_VARIABLE} (or pass --token); create one with "
                "`stockade console token create --role ci`",
            )
        if not self.wanted and (self.namespace or self.labels or self.token):
            raise UsageError(
                "--namespace, --label and --token are for a Console",
                hint="add --publish URL or --policy-from URL",
            )
        for label in self.labels:
            key, equals, _ = label.partition("=")
            if not equals or not key:
                raise UsageError(f"--label {label!r}: write KEY=VALUE")
        for url in (self.publish, self.policy_from):
            if url and not url.startswith(("https://", "http://")):
                raise UsageError(f"{url!r} is not a Console URL", hint="https://console:8443")

    @property
    def verify(self) -> bool | str:
        return str(self.console_ca) if self.console_ca is not None else True


_OPTIONS = (
    click.option(
        "--publish",
        metavar="URL",
        help="Publish the whole result (every finding, a scan's packages) to the Console at URL.",
    ),
    click.option(
        "--token",
        envvar=TOKEN_VARIABLE,
        metavar="TOKEN",
        help=f"Console API token (better: the {TOKEN_VARIABLE} variable, which no process "
        "list shows).",
    ),
    click.option(
        "--console-ca",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="CA certificate to trust for the Console (its self-signed console.crt).",
    ),
    click.option(
        "--policy-from",
        metavar="URL",
        help="Gate on the block threshold of the Console's policy rule for this artifact.",
    ),
    click.option(
        "--namespace",
        "policy_namespace",
        metavar="NAME",
        help="The namespace the artifact runs in, for the Console's collections.",
    ),
    click.option(
        "--label",
        "policy_labels",
        multiple=True,
        metavar="KEY=VALUE",
        help="A label of the artifact for the Console's collections (repeatable).",
    ),
    click.option(
        "--host",
        "console_host",
        metavar="NAME",
        help="Publish the result as this host's (and match host collections with it).",
    ),
)


def console_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the Console options; the command receives them as ``console: ConsoleOptions``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = ConsoleOptions(
            publish=kwargs.pop("publish"),
            token=kwargs.pop("token"),
            console_ca=kwargs.pop("console_ca"),
            policy_from=kwargs.pop("policy_from"),
            namespace=kwargs.pop("policy_namespace"),
            labels=tuple(kwargs.pop("policy_labels")),
            host=kwargs.pop("console_host"),
        )
        options.validate()
        return command(*args, console=options, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]  # click's decorators are untyped here


@dataclass(frozen=True, slots=True)
class Target:
    """What a result is about, as the Console files it."""

    name: str
    """The artifact's name (scan) or the check's target."""
    digest: str | None = None
    references: tuple[str, ...] = ()
    host: str | None = None


@dataclass(slots=True)
class Outcome:
    """What talking to the Console came to: a verdict, and the errors met on the way."""

    verdict: Verdict | None = None
    errors: list[StockadeError] = field(default_factory=list)


def _publish(
    ui: UI,
    options: ConsoleOptions,
    url: str,
    token: str,
    kind: Kind,
    document: dict[str, Any],
    target: Target,
) -> None:
    from stockade.console import client

    if options.namespace or options.labels:
        # Keyed as the Console files the result: host, image digest, or name.
        image = None if target.host else target.digest
        named = target.host is None and image is None
        client.set_artifact_context(
            url,
            token,
            host=target.host,
            image=image,
            artifact=target.name if named and kind == "vulnerabilities" else None,
            target=target.name if named and kind == "compliance" else None,
            namespace=options.namespace,
            labels=options.label_map,
            verify=options.verify,
        )
    if kind == "vulnerabilities":
        answer = client.publish_scan(url, token, document, verify=options.verify, host=target.host)
    else:
        answer = client.publish_check(
            url,
            token,
            document,
            verify=options.verify,
            host=target.host,
            image=None if target.host else target.digest,
        )
    ui.info(f"published to {url} as scan {answer.get('scanId')}")


def _verdict(
    options: ConsoleOptions,
    url: str,
    token: str,
    kind: Kind,
    document: dict[str, Any],
    target: Target,
) -> Verdict:
    from stockade.console import client
    from stockade.console.errors import PublishError
    from stockade.console.policies import model

    answer = client.fetch_effective_policy(
        url,
        token,
        images=target.references,
        artifact=target.name,
        host=target.host,
        namespace=options.namespace,
        labels=options.label_map,
        verify=options.verify,
    )
    applied = answer.get(kind)
    if not isinstance(applied, dict):
        raise PublishError(f"the Console at {url} answered without a {kind} policy")
    now = dt.datetime.now(dt.UTC)
    if applied.get("rule") is None:
        return model.evaluate(kind, [], {}, model.Subject(), [], now=now)
    try:
        rule = model.rule_from_json(applied["rule"])
    except (ValueError, TypeError) as exc:
        raise PublishError(f"the Console at {url} answered with a malformed rule: {exc}") from exc
    collection = str(applied.get("collection") or model.ALL_COLLECTION)
    if kind == "compliance":
        return model.evaluate_compliance(
            rule, collection, model.compliance_items(document), now=now
        )
    items = model.vulnerability_items(document)
    fix_seen: dict[model.FixKey, dt.datetime] = {}
    if rule.grace_days > 0:
        fixable = [i.fix_key for i in items if i.fixable]
        if fixable:
            fix_seen = client.fetch_fix_dates(url, token, fixable, verify=options.verify)
    return model.evaluate_vulnerabilities(rule, collection, items, now=now, fix_seen=fix_seen)


def talk_to_console(
    ui: UI, options: ConsoleOptions, kind: Kind, document: dict[str, Any], target: Target
) -> Outcome:
    """Publish ``document`` and/or fetch and apply the policy, as the options ask; errors
    are collected, not raised, so the caller decides what the exit status is."""
    outcome = Outcome()
    token = options.token or ""  # validate() made sure there is one
    if options.publish:
        try:
            _publish(ui, options, options.publish, token, kind, document, target)
        except StockadeError as exc:
            exc.status = EXIT_CONSOLE
            outcome.errors.append(exc)
    if options.policy_from:
        try:
            outcome.verdict = _verdict(options, options.policy_from, token, kind, document, target)
        except StockadeError as exc:
            exc.status = EXIT_CONSOLE
            outcome.errors.append(exc)
    return outcome


def _reasons(verdict: Verdict, limit: int = 5) -> str:
    shown = [
        f"{r.id} ({r.severity}) in {r.target}" + (f" [{r.note}]" if r.note else "")
        for r in verdict.reasons
        if r.threshold == "block"
    ][:limit]
    more = verdict.counts.get("block", 0) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def finish(
    ui: UI, outcome: Outcome, gate_failure: PolicyFailure | None, exit_code: int | None
) -> None:
    """Raise what the run comes to: a failed gate (``--fail-on`` or the Console's block)
    first, then a Console error; report the rest on standard error."""
    from stockade.console.policies.model import Outcome as VerdictOutcome

    failures: list[str] = []
    hints: list[str] = []
    verdict = outcome.verdict
    if verdict is not None:
        if verdict.outcome is VerdictOutcome.BLOCK:
            failures.append(f"policy failed: {verdict.summary()}")
            hints.append(f"blocking: {_reasons(verdict)}")
        elif verdict.outcome is VerdictOutcome.ALERT:
            ui.warn(f"policy alert: {verdict.summary()}")
        else:
            ui.info(f"policy: {verdict.summary()}")
    if gate_failure is not None:
        failures.append(gate_failure.message)
        if gate_failure.hint:
            hints.append(gate_failure.hint)
    if failures:
        for error in outcome.errors:
            ui.warn(error.diagnostics())
        raise PolicyFailure(
            "\n".join(failures),
            hint="\n".join(hints) or None,
            exit_code=exit_code or 1,
        )
    if outcome.errors:
        for error in outcome.errors[1:]:
            ui.warn(error.diagnostics())
        raise outcome.errors[0]


def image_references(
    repo_tags: Sequence[str], repo_digests: Sequence[str], kind: str, name: str
) -> tuple[str, ...]:
    """The references an image is known by (its name too, for a registry image)."""
    references = [*repo_tags, *repo_digests]
    if kind == "registry":
        references.append(name)
    return tuple(dict.fromkeys(references))
