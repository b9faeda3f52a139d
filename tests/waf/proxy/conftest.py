"""Fixtures: the h11 backend on 127.0.0.1 and the CRS-only deciders (loaded once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.waf.proxy.backend import Backend, running_backend

from stockade.waf.decision import Mode
from stockade.waf.proxy.crs_decider import CrsDecider


@pytest.fixture(scope="module")
def backend() -> Iterator[Backend]:
    with running_backend() as server:
        yield server


@pytest.fixture(scope="session")
def crs() -> CrsDecider:
    """CRS at paranoia level 1, blocking (mode prevent)."""
    return CrsDecider.load(mode=Mode.PREVENT)
