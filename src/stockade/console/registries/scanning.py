"""One image, scanned as ``stockade scan REGISTRY/REPO:TAG`` scans it, into the document
``stockade scan -f json`` writes (with the inventory's packages, as a publish may carry).

The steps are the CLI's library calls: open the advisory store as the CLI does
(``STOCKADE_DB``, else the user data store, installed from the bundle on first use),
inventory the image with the default catalogers, match, render JSON. Layers are analysed
one at a time in the calling thread: forking worker processes from a threaded server is
unsafe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from stockade.artifact.interface import Limits
from stockade.artifact.registry import RegistrySource
from stockade.console.documents import ScanDocument
from stockade.console.registries.model import AdvisoryVersion, advisory_version
from stockade.core.errors import ArtifactError
from stockade.inventory.engine import build_inventory
from stockade.inventory.interface import CatalogContext, ScanMode
from stockade.inventory.registry import default_catalogers
from stockade.match.scan import scan_inventory
from stockade.report.json import inventory_to_dict
from stockade.report.scan_json import scan_to_dict
from stockade.vulndb.store import AdvisoryStore

__all__ = ["ADVISORY_DB_ENV", "advisories_age", "open_advisories", "scan_image", "version_of"]

ADVISORY_DB_ENV = "STOCKADE_DB"
_log = logging.getLogger("stockade.console.registries")


def open_advisories(path: Path | None = None) -> AdvisoryStore:
    """The advisory store ``stockade scan`` would use: ``path``, else ``$STOCKADE_DB``,
    else the default store (installed from the bundled data when missing)."""
    chosen = path or (
        Path(os.environ[ADVISORY_DB_ENV]) if os.environ.get(ADVISORY_DB_ENV) else None
    )
    if chosen is not None:
        return AdvisoryStore.open(chosen, read_only=True)
    from stockade.vulndb.bundle import ensure_store

    return ensure_store(info=_log.info)


def version_of(advisories: AdvisoryStore) -> AdvisoryVersion:
    return advisory_version(advisories.status())


def advisories_age(advisories: AdvisoryStore) -> str:
    """The age of the oldest source's data, in the words ``stockade scan`` writes into
    ``advisoriesAge`` (its helper is private to the CLI, which others are changing)."""
    from stockade.vulndb.update import describe_store

    dates = sorted(r.as_of for r in describe_store(advisories.path) if r.advisories and r.as_of)
    if not dates:
        return "" if len(advisories) else "no advisory data"
    if dates[0].date() == dates[-1].date():
        return f"as of {dates[-1]:%Y-%m-%d}"
    return f"sources as of {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}"


def scan_image(
    source: RegistrySource,
    advisories: AdvisoryStore,
    *,
    tags: Sequence[str],
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanDocument:
    """Inventory and match the image; ``tags`` become the document's ``repoTags``."""
    inventory = build_inventory(
        source,
        default_catalogers(),
        ctx=CatalogContext(mode=ScanMode.IMAGE),
        limits=limits or Limits(),
        workers=1,
        progress=progress,
        warn=lambda message: _log.info("%s: %s", source.name, message),
    )
    result = scan_inventory(inventory, advisories, advisories_age=advisories_age(advisories))
    document = scan_to_dict(result)
    document["packages"] = inventory_to_dict(inventory)["packages"]
    document["artifact"]["repoTags"] = list(tags)
    try:
        return ScanDocument.model_validate(document)
    except ValidationError as exc:
        # The bounds a published document has (items, string sizes) hold here too.
        raise ArtifactError(
            f"{source.name}: the scan result is beyond what the Console stores "
            f"({exc.error_count()} problems, first at {'.'.join(map(str, exc.errors()[0]['loc']))})"
        ) from exc
