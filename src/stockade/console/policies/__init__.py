"""Vulnerability and compliance policies scoped to collections.

Collections name sets of artifacts (image, host and namespace globs, labels); each
policy is an ordered list of rules with alert and block thresholds, the first rule whose
collections match an artifact applies. Every published result is evaluated when it is
stored (:class:`~stockade.console.policies.listener.PolicyEvaluator`): the verdict is
kept per scan and alerts and blocks become ``policy.*`` events. The evaluation itself is
pure (:mod:`stockade.console.policies.model`), shared with ``stockade scan --policy-from``.
"""

from __future__ import annotations

from fastapi import APIRouter

from stockade.console.context import ConsoleContext
from stockade.console.policies.api import router
from stockade.console.policies.listener import PolicyEvaluator

__all__ = ["ROUTERS", "install"]

ROUTERS: tuple[APIRouter, ...] = (router,)


def install(context: ConsoleContext) -> None:
    """Evaluate every result published to this Console."""
    context.listeners.append(PolicyEvaluator(context))
