"""The list of catalogers the engine runs by default."""

from __future__ import annotations

import importlib

from stockade.inventory.interface import Cataloger

# module:class, in the order results are listed. Adding an ecosystem is adding a line.
_CATALOGERS: tuple[str, ...] = (
    "stockade.inventory.osrelease:OSReleaseCataloger",
    "stockade.inventory.dpkg:DpkgCataloger",
    "stockade.inventory.apk:ApkCataloger",
    "stockade.inventory.rpm:RpmCataloger",
    "stockade.inventory.python:PythonCataloger",
    "stockade.inventory.node:NodeCataloger",
    "stockade.inventory.golang:GoCataloger",
    "stockade.inventory.java:JavaCataloger",
    "stockade.inventory.ruby:RubyCataloger",
    "stockade.inventory.php:PhpCataloger",
    "stockade.inventory.rust:RustCataloger",
    "stockade.inventory.dotnet:DotnetCataloger",
    "stockade.inventory.hex:HexCataloger",
)


def default_catalogers() -> list[Cataloger]:
    """One instance of every cataloger, in listing order."""
    found: list[Cataloger] = []
    for spec in _CATALOGERS:
        module_name, class_name = spec.split(":")
        found.append(getattr(importlib.import_module(module_name), class_name)())
    return found
