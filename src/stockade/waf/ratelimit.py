"""Per-client rate limits (token buckets) and IP allow/deny lists.

A :class:`RateLimiter` holds one token bucket per (rule, client IP): a bucket holds up to
``burst`` tokens, refills at ``rate`` tokens a second, and each request takes one. A rule
may apply to a path prefix only (``/login``); a request is limited when any rule that
applies to it has an empty bucket. Buckets live in an LRU of bounded size, so a flood of
spoofed or rotating addresses costs at most ``max_clients`` buckets, never unbounded
memory (the least recently seen clients are forgotten first, which lets them start with a
full bucket again).

An :class:`IpList` matches addresses against CIDRs (IPv4 and IPv6, IPv4-mapped IPv6
addresses read as IPv4) in time proportional to the number of distinct prefix lengths,
not the number of networks.

Time is passed in (``now``, seconds), never read from a clock: the module is sans-io and
tests are exact.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from stockade.waf.errors import WafError

__all__ = ["IpList", "RateLimitError", "RateLimitRule", "RateLimiter", "RateVerdict", "parse_ip"]

DEFAULT_MAX_CLIENTS: Final = 100_000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RateLimitError(WafError):
    """A rate-limit rule or an IP list entry is invalid."""


def parse_ip(text: str) -> IpAddress | None:
    """``text`` as an address (IPv4-mapped IPv6 as IPv4, zone ids dropped), or ``None``."""
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    name: str
    rate: float
    """Average requests a second allowed per client."""
    burst: int
    """Requests a client may send at once before the average applies."""
    path_prefix: str = "/"

    def __post_init__(self) -> None:
        if not (self.rate > 0) or self.rate != self.rate or self.rate == float("inf"):
            raise RateLimitError(f"rate limit {self.name!r}: rate must be a positive number")
        if self.burst < 1:
            raise RateLimitError(f"rate limit {self.name!r}: burst must be at least 1")
        if not self.path_prefix.startswith("/"):
            raise RateLimitError(f"rate limit {self.name!r}: path_prefix must start with /")

    def applies_to(self, path: str) -> bool:
        prefix = self.path_prefix
        if prefix in ("/", path):
            return True
        if prefix.endswith("/"):
            return path.startswith(prefix)
        return path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in {"/", ""}


@dataclass(frozen=True, slots=True)
class RateVerdict:
    allowed: bool
    rule: RateLimitRule | None = None
    """The rule whose bucket was empty, when refused."""
    retry_after: float = 0.0
    """Seconds until that bucket holds a token again."""


class RateLimiter:
    """Token buckets per (rule, client), in a bounded LRU."""

    def __init__(
        self, rules: Iterable[RateLimitRule], *, max_clients: int = DEFAULT_MAX_CLIENTS
    ) -> None:
        self.rules: tuple[RateLimitRule, ...] = tuple(rules)
        if max_clients < 1:
            raise RateLimitError("max_clients must be at least 1")
        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise RateLimitError("rate limit rule names must be unique")
        self.max_clients = max_clients
        self._buckets: OrderedDict[tuple[int, str], list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, client: str, path: str, *, now: float) -> RateVerdict:
        """Count one request of ``client`` to ``path`` at time ``now`` (seconds)."""
        buckets = self._buckets
        taken: list[list[float]] = []
        for index, rule in enumerate(self.rules):
            if not rule.applies_to(path):
                continue
            key = (index, client)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = [float(rule.burst), now]
                buckets[key] = bucket
                if len(buckets) > self.max_clients:
                    buckets.popitem(last=False)
            else:
                buckets.move_to_end(key)
                elapsed = now - bucket[1]
                if elapsed > 0:
                    bucket[0] = min(float(rule.burst), bucket[0] + elapsed * rule.rate)
                    bucket[1] = now
            if bucket[0] < 1.0:
                # Refused: give back what this request took from earlier rules.
                for other in taken:
                    other[0] += 1.0
                return RateVerdict(False, rule, (1.0 - bucket[0]) / rule.rate)
            bucket[0] -= 1.0
            taken.append(bucket)
        return RateVerdict(True)


class IpList:
    """A set of networks; membership in O(distinct prefix lengths)."""

    def __init__(self, entries: Iterable[str] = (), *, name: str = "ip list") -> None:
        self.name = name
        self._v4: dict[int, set[int]] = {}
        self._v6: dict[int, set[int]] = {}
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            self.add(entry)

    def add(self, entry: str) -> None:
        try:
            network = ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError as exc:
            raise RateLimitError(f"{self.name}: {entry!r} is not an IP address or CIDR") from exc
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            mapped = network.network_address.ipv4_mapped
            prefix = max(0, network.prefixlen - 96)
            network = ipaddress.ip_network(f"{mapped}/{prefix}", strict=False)
        self.networks.append(network)
        table = self._v4 if network.version == 4 else self._v6
        table.setdefault(network.prefixlen, set()).add(int(network.network_address))

    def __len__(self) -> int:
        return len(self.networks)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            address = parse_ip(address)
        if isinstance(address, ipaddress.IPv4Address):
            table, bits = self._v4, 32
        elif isinstance(address, ipaddress.IPv6Address):
            table, bits = self._v6, 128
        else:
            return False
        value = int(address)
        for prefix, networks in table.items():
            shift = bits - prefix
            if (value >> shift) << shift in networks:
                return True
        return False
