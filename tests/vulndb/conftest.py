from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.vulndb import AdvisoryStore

DATA = Path(__file__).resolve().parent.parent / "data" / "advisories"


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AdvisoryStore]:
    with AdvisoryStore.open(tmp_path / "vulndb.sqlite") as opened:
        yield opened


@pytest.fixture
def warnings_seen() -> list[str]:
    return []
