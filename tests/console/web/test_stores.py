"""Every page on both stores: the queries behind them (ILIKE, grouping, paging) and the
rendering agree on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from stockade.console.roles import Role

from ..conftest import RunningConsole
from .conftest import HOSTILE, Fleet, log_in


def test_every_page_renders_on_this_store(console: RunningConsole, fleet: Fleet) -> None:
    api = console.client(Role.ADMINISTRATOR)
    for path, body in (
        ("/api/v1/policies/collections", {"name": "shop", "images": ["example/shop:*"]}),
        ("/api/v1/policies/rules/vulnerabilities", {"name": "gate", "collections": ["shop"]}),
        (
            "/api/v1/alerts/channels",
            {"kind": "webhook", "name": "hook", "config": {"url": "https://hooks.example/x"}},
        ),
        ("/api/v1/registries", {"name": "harbor", "url": "https://harbor.example.com"}),
        ("/api/v1/defenders", {"name": "node-1.example"}),
    ):
        api.post(path, json=body).raise_for_status()
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
        "/policies": "vulnerabilities/gate",
        "/policies?outcome=pass": "example/payments:1.9",
        "/policies/rules/vulnerabilities/gate": 'value="shop" checked',
        "/policies/collections/shop": "example/shop:*",
        "/alerts": "https://hooks.example",
        "/alerts/channels/1": "hook",
        "/registries": "https://harbor.example.com",
        "/registries/1": "harbor",
        "/defenders": "node-1.example",
    }
    for path, expected in pages.items():
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert expected in answer.text.replace("<wbr>", ""), path
        assert HOSTILE not in answer.text, path
    wildcard = admin.get("/images", params={"q": "%"})  # a LIKE wildcard is searched as text
    assert re.findall(r'<a href="/images/[^"]+">', wildcard.text) == []
