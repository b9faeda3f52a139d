"""Stockade's own JSON: every field of the inventory, stable keys, for scripts.

The keys are a contract with users' scripts: add new ones, never rename or remove one
without raising :data:`SCHEMA_VERSION`. Non-ASCII text is written as ``\\u`` escapes, so
the output is the same bytes whatever the locale's encoding.
"""

from __future__ import annotations

import json
from typing import IO, Any

from stockade.core.models import Inventory, Package
from stockade.report.interface import Renderer

SCHEMA_VERSION = 1


def inventory_to_dict(inventory: Inventory) -> dict[str, Any]:
    art = inventory.artifact
    return {
        "schemaVersion": SCHEMA_VERSION,
        "artifact": {
            "name": art.name,
            "type": art.kind,
            "digest": art.digest,
            "repoTags": list(art.repo_tags),
            "repoDigests": list(art.repo_digests),
            "architecture": art.architecture,
            "os": art.os,
            "layers": [
                {
                    "diffId": layer.diff_id,
                    "digest": layer.digest,
                    "size": layer.size,
                    "mediaType": layer.media_type,
                    "createdBy": layer.created_by,
                }
                for layer in art.layers
            ],
        },
        "os": None
        if inventory.os is None
        else {
            "family": inventory.os.family,
            "version": inventory.os.version,
            "name": inventory.os.name,
            "prettyName": inventory.os.pretty_name,
            "codename": inventory.os.codename,
        },
        "packages": [_package(p) for p in inventory.packages],
    }


def _package(p: Package) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "type": p.type.value,
        "purl": p.purl,
        "namespace": p.namespace,
        "arch": p.arch,
        "epoch": p.epoch,
        "sourceName": p.source_name,
        "sourceVersion": p.source_version,
        "licenses": list(p.licenses),
        "dev": p.dev,
        "cataloger": p.cataloger,
        "locations": [{"path": loc.path, "layer": loc.layer} for loc in p.locations],
    }


class JsonRenderer(Renderer):
    format = "json"

    def render(self, inventory: Inventory, out: IO[str]) -> None:
        # Rendered whole before writing: a failure never leaves half a document behind.
        out.write(json.dumps(inventory_to_dict(inventory), indent=2) + "\n")
