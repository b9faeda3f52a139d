"""Roles and what each may do: pure data, checked by the API on every operation."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["ROLE_PERMISSIONS", "Permission", "Role", "allows"]


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    """Reads everything, the audit log included; changes nothing."""
    CI = "ci"
    """Publishes scan and check results; reads only the policy that applies to them."""
    DEFENDER = "defender"
    """Pushes runtime events; reads nothing."""


class Permission(enum.StrEnum):
    READ = "read"
    """Inventory, findings, compliance, hosts, metrics."""
    READ_AUDIT = "read-audit"
    PUBLISH = "publish"
    """Scan and check results."""
    PUSH_EVENTS = "push-events"
    READ_POLICY = "read-policy"
    """The policy that applies to an artifact (``--policy-from``), and fix dates."""
    OPERATE = "operate"
    """Day-to-day changes that are not administration (pruning now, …)."""
    ADMINISTER = "administer"
    """Users, tokens, settings."""


ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.PUBLISH, Permission.OPERATE, Permission.READ_POLICY}
    ),
    Role.AUDITOR: frozenset({Permission.READ, Permission.READ_AUDIT, Permission.READ_POLICY}),
    Role.CI: frozenset({Permission.PUBLISH, Permission.READ_POLICY}),
    Role.DEFENDER: frozenset({Permission.PUSH_EVENTS}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
