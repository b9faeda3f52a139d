"""Every page on both stores: the queries behind them (ILIKE, grouping, paging) and the
rendering agree on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from ..conftest import RunningConsole
from .conftest import HOSTILE, Fleet, log_in


def test_every_page_renders_on_this_store(console: RunningConsole, fleet: Fleet) -> None:
    admin = log_in(console)
    shop = fleet.real_images["example/shop:2.4"]
    pages = {
        "/": "example/shop:2.4",
        "/images?q=SHOP": "example/shop:2.4",  # case-insensitive search on both stores
        f"/images/{shop}?severity=medium": "bsdutils",
        "/vulnerabilities?q=2024-28085": "CVE-2024-28085",
        "/vulnerabilities/CVE-2024-28085": "example/payments:1.9",
        "/compliance?q=privileged": "STK-K8S-001",
        "/compliance/STK-K8S-001?status=failed": "Containers must not be privileged",
        "/hosts": "node-1.example",
        "/incidents": "Terminal shell in container",
        "/users": "admin",
        "/tokens": "test-ci",
    }
    for path, expected in pages.items():
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert expected in answer.text.replace("<wbr>", ""), path
        assert HOSTILE not in answer.text, path
    wildcard = admin.get("/images", params={"q": "%"})  # a LIKE wildcard is searched as text
    assert re.findall(r'<a href="/images/[^"]+">', wildcard.text) == []
