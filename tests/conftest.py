"""Shared test set-up: makes ``tests.support`` importable under ``--import-mode=importlib``.

importlib mode does not put the repository root on ``sys.path``; the builders of real
artifacts in ``tests/support`` are plain modules that tests (and the benchmarks) import.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)
