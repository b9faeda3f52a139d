"""Token buckets with exact time, bounded memory, path prefixes and CIDR lists."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.waf.ratelimit import IpList, RateLimiter, RateLimitError, RateLimitRule, parse_ip


def test_burst_then_average() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=2.0, burst=3)])
    allowed = [limiter.hit("1.2.3.4", "/", now=0.0).allowed for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    refused = limiter.hit("1.2.3.4", "/", now=0.0)
    assert refused.rule is not None
    assert refused.rule.name == "site"
    assert refused.retry_after == pytest.approx(0.5)
    # 0.5 s later one token (rate 2/s) is back, and only one.
    assert limiter.hit("1.2.3.4", "/", now=0.5).allowed
    assert not limiter.hit("1.2.3.4", "/", now=0.5).allowed
    # A long pause refills to the burst, never above it.
    assert [limiter.hit("1.2.3.4", "/", now=100.0).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_sustained_rate_matches_the_average() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=10.0, burst=5)])
    allowed = sum(limiter.hit("c", "/", now=i * 0.01).allowed for i in range(1000))  # 10 s
    # 5 (burst) + 10/s over ~10 s
    assert 100 <= allowed <= 106


def test_clients_are_independent() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=1.0, burst=1)])
    assert limiter.hit("a", "/", now=0).allowed
    assert not limiter.hit("a", "/", now=0).allowed
    assert limiter.hit("b", "/", now=0).allowed


def test_path_prefix_rules_apply_only_under_their_prefix() -> None:
    limiter = RateLimiter(
        [RateLimitRule("site", rate=100, burst=100), RateLimitRule("login", 1, 2, "/login")]
    )
    assert all(limiter.hit("c", "/login", now=0).allowed for _ in range(2))
    verdict = limiter.hit("c", "/login/submit", now=0)
    assert not verdict.allowed
    assert verdict.rule is not None
    assert verdict.rule.name == "login"
    assert limiter.hit("c", "/loginx", now=0).allowed  # not under /login
    assert limiter.hit("c", "/", now=0).allowed


def test_refusal_by_one_rule_does_not_spend_the_others() -> None:
    limiter = RateLimiter(
        [RateLimitRule("site", rate=0.001, burst=3), RateLimitRule("login", 0.001, 1, "/login")]
    )
    assert limiter.hit("c", "/login", now=0).allowed  # site 2 left, login 0
    for _ in range(5):
        assert not limiter.hit("c", "/login", now=0).allowed
    # the refused /login requests gave their site tokens back
    assert limiter.hit("c", "/a", now=0).allowed
    assert limiter.hit("c", "/a", now=0).allowed
    assert not limiter.hit("c", "/a", now=0).allowed


def test_time_going_backwards_refills_nothing() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=1.0, burst=1)])
    assert limiter.hit("c", "/", now=100.0).allowed
    assert not limiter.hit("c", "/", now=50.0).allowed
    assert not limiter.hit("c", "/", now=100.5).allowed
    assert limiter.hit("c", "/", now=101.0).allowed


def test_memory_is_bounded_by_an_lru() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=1, burst=1)], max_clients=100)
    for index in range(10_000):
        limiter.hit(f"10.0.{index // 256}.{index % 256}", "/", now=0)
    assert len(limiter) == 100
    # the most recent clients are remembered (and limited), the oldest forgotten
    assert not limiter.hit("10.0.39.15", "/", now=0).allowed
    assert limiter.hit("10.0.0.0", "/", now=0).allowed


def test_recently_seen_clients_survive_eviction() -> None:
    limiter = RateLimiter([RateLimitRule("site", rate=0.001, burst=1)], max_clients=3)
    limiter.hit("keep", "/", now=0)
    for other in ("a", "b", "c", "d"):
        limiter.hit("keep", "/", now=0)  # touched, so most recently used
        limiter.hit(other, "/", now=0)
    assert not limiter.hit("keep", "/", now=0).allowed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "r", "rate": 0, "burst": 1}, "positive"),
        ({"name": "r", "rate": float("nan"), "burst": 1}, "positive"),
        ({"name": "r", "rate": float("inf"), "burst": 1}, "positive"),
        ({"name": "r", "rate": 1, "burst": 0}, "at least 1"),
        ({"name": "r", "rate": 1, "burst": 1, "path_prefix": "login"}, "start with /"),
    ],
)
def test_invalid_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RateLimitError, match=message):
        RateLimitRule(**kwargs)  # type: ignore[arg-type]


def test_duplicate_rule_names_and_zero_clients_refused() -> None:
    with pytest.raises(RateLimitError, match="unique"):
        RateLimiter([RateLimitRule("a", 1, 1), RateLimitRule("a", 2, 2)])
    with pytest.raises(RateLimitError, match="max_clients"):
        RateLimiter([], max_clients=0)


# --- IP lists ----------------------------------------------------------------------------


def test_ip_list_matches_cidrs_and_addresses() -> None:
    ips = IpList(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::ffff:172.16.0.0/108"])
    assert "10.20.30.40" in ips
    assert "192.168.1.7" in ips
    assert "192.168.1.8" not in ips
    assert "2001:db8:1::5" in ips
    assert "2001:db9::1" not in ips
    assert "::ffff:10.1.1.1" in ips  # IPv4-mapped IPv6 reads as IPv4
    assert "172.16.5.5" in ips  # from the IPv4-mapped CIDR
    assert "[2001:db8::1]" in ips
    assert "fe80::1%eth0" not in ips
    assert "not an ip" not in ips
    assert "" not in ips
    assert 42 not in ips
    assert len(ips) == 4


def test_ip_list_rejects_garbage() -> None:
    with pytest.raises(RateLimitError, match="not an IP address or CIDR"):
        IpList(["10.0.0.0/33"])
    with pytest.raises(RateLimitError, match="deny"):
        IpList(["example.com"], name="deny")


def test_parse_ip() -> None:
    assert parse_ip(" 10.0.0.1 ") == ipaddress.ip_address("10.0.0.1")
    assert parse_ip("::ffff:1.2.3.4") == ipaddress.ip_address("1.2.3.4")
    assert parse_ip("1.2.3") is None


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=30),
    st.lists(st.integers(0, 2**32 - 1), max_size=50),
)
@settings(max_examples=200)
def test_ip_list_agrees_with_ipaddress(
    networks: list[tuple[int, int]], addresses: list[int]
) -> None:
    parsed = [ipaddress.ip_network((value, prefix), strict=False) for value, prefix in networks]
    ips = IpList(str(n) for n in parsed)
    rng = random.Random(len(addresses))  # noqa: S311 - picks test addresses
    probes = [ipaddress.ip_address(a) for a in addresses]
    probes += [n.network_address + rng.randrange(n.num_addresses) for n in parsed]
    for probe in probes:
        assert (probe in ips) == any(probe in n for n in parsed)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 100)), max_size=200))
@settings(max_examples=200)
def test_buckets_never_go_negative_or_above_burst(hits: list[tuple[str, float]]) -> None:
    limiter = RateLimiter([RateLimitRule("r", rate=3.0, burst=4)])
    for client, now in sorted(hits, key=lambda h: h[1]):
        limiter.hit(client, "/", now=now)
    for tokens, _ in limiter._buckets.values():
        assert 0.0 <= tokens <= 4.0
