"""Reading artifacts (images, directories, archives, registries) as layered file trees."""

from stockade.artifact.detect import ARTIFACT_TYPES, open_artifact
from stockade.artifact.interface import Entry, EntryType, Layer, Limits, Source

__all__ = [
    "ARTIFACT_TYPES",
    "Entry",
    "EntryType",
    "Layer",
    "Limits",
    "Source",
    "open_artifact",
]
