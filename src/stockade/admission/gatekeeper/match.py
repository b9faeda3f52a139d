"""Whether a constraint's ``spec.match`` selects an object (pure: data in, bool out).

Follows Gatekeeper's rules:

* ``kinds``: any entry whose ``apiGroups`` and ``kinds`` both contain the object's
  (``*`` matches anything; the core group is ``""``); no entries match every kind.
* ``namespaces`` / ``excludedNamespaces``: names or globs with ``*`` at the start
  and/or the end (``kube-*``, ``*-system``). A Namespace object is judged by its own
  name; other cluster-scoped objects are not affected by either list.
* ``labelSelector``: the object's labels. ``namespaceSelector``: the labels of the
  object's namespace (a Namespace object's own labels); cluster-scoped objects pass,
  and a namespaced object whose namespace is unknown does not match.
* ``scope``: ``Cluster`` only cluster-scoped objects, ``Namespaced`` only namespaced.
* ``name``: the object's name, with the same globs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockade.admission.gatekeeper.model import KindMatcher, LabelSelector, Match

__all__ = ["glob_matches", "matches", "selector_matches"]


def glob_matches(pattern: str, value: str) -> bool:
    """Gatekeeper's wildcard: ``*`` only as the first and/or last character."""
    prefix_glob = pattern.startswith("*")
    suffix_glob = pattern.endswith("*") and len(pattern) > 1
    core = pattern[1 if prefix_glob else 0 : len(pattern) - 1 if suffix_glob else len(pattern)]
    if prefix_glob and suffix_glob:
        return core in value
    if prefix_glob:
        return value.endswith(core)
    if suffix_glob:
        return value.startswith(core)
    return pattern == value


def selector_matches(selector: LabelSelector, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label-selector semantics; an empty selector selects everything."""
    for key, wanted in selector.match_labels.items():
        if labels.get(key) != wanted:
            return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        if requirement.operator == "In" and not (present and value in requirement.values):
            return False
        if requirement.operator == "NotIn" and present and value in requirement.values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


def _kind_matches(matchers: tuple[KindMatcher, ...], group: str, kind: str) -> bool:
    if not matchers:
        return True
    return any(
        ("*" in m.api_groups or group in m.api_groups) and ("*" in m.kinds or kind in m.kinds)
        for m in matchers
    )


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = (obj or {}).get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def matches(
    match: Match,
    *,
    group: str,
    kind: str,
    name: str,
    namespace: str,
    obj: Mapping[str, Any] | None,
    namespace_object: Mapping[str, Any] | None,
) -> bool:
    """Whether ``match`` selects the object (``namespace`` is "" when cluster-scoped)."""
    if not _kind_matches(match.kinds, group, kind):
        return False
    is_namespace_kind = group == "" and kind == "Namespace"
    if match.scope == "Cluster" and namespace:
        return False
    if match.scope == "Namespaced" and not namespace:
        return False
    judged_namespace = name if is_namespace_kind else namespace
    if judged_namespace:
        if match.namespaces is not None and not any(
            glob_matches(p, judged_namespace) for p in match.namespaces
        ):
            return False
        if any(glob_matches(p, judged_namespace) for p in match.excluded_namespaces):
            return False
    if match.name is not None and not glob_matches(match.name, name):
        return False
    if match.label_selector is not None and not selector_matches(
        match.label_selector, _labels(obj)
    ):
        return False
    if match.namespace_selector is not None:
        if is_namespace_kind:
            return selector_matches(match.namespace_selector, _labels(obj))
        if namespace:
            if namespace_object is None:
                return False
            return selector_matches(match.namespace_selector, _labels(namespace_object))
    return True
