"""Request counters: one server's workers add up; the exposition stays valid."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stockade.console.metrics import RequestCounters, render

COUNTS = {"images": 0, "hosts": 0, "scans": 0, "imagesWithCritical": 0, "latestFindings": {}}


def test_a_worker_adds_the_other_workers_written_counts_to_its_live_ones(tmp_path: Path) -> None:
    counters = RequestCounters()
    counters.shared = tmp_path
    counters.count("GET", 200)
    counters.count_published()
    counters.write_shared()
    counters.count("GET", 200)  # live, not written yet: still counted by this worker
    (tmp_path / "4242.json").write_text(
        json.dumps({"published": 5, "requests": [["GET", 200, 3], ["POST", 201, 5]]})
    )
    (tmp_path / "4243.json").write_text("{not json")  # being replaced: skipped this time
    published, requests = counters.totals()
    assert published == 6
    assert requests == {("GET", 200): 5, ("POST", 201): 5}
    assert json.loads((tmp_path / f"{os.getpid()}.json").read_text())["published"] == 1


def test_unknown_methods_share_one_other_series() -> None:
    counters = RequestCounters()
    for method in ("BREW", "PROPFIND", "GET"):
        counters.count(method, 405)
    text = render(COUNTS, counters)
    assert text.count('method="other",status="405"} 2') == 1
    assert 'method="GET",status="405"} 1' in text
