"""``stockade waf``: the asyncio reverse proxy in front of a web application.

It parses HTTP/1.1 (:mod:`.h1`, sans-io), asks a :class:`~stockade.waf.decision.Decider`
about every request and response, and moves bytes accordingly (:mod:`.server`); it decides
nothing itself. :class:`CrsDecider` is the CRS-only decider; :func:`serve` runs one process
or several workers on one port.
"""

from stockade.waf.proxy.audit import AuditLog, audit_event
from stockade.waf.proxy.bans import BanList
from stockade.waf.proxy.config import (
    ProxyConfig,
    ProxyConfigError,
    Upstream,
    load_config,
    parse_listen,
    parse_size,
    parse_upstream,
)
from stockade.waf.proxy.crs_decider import CrsDecider, crs_engine_settings
from stockade.waf.proxy.pages import BlockPage
from stockade.waf.proxy.server import ProxyServer
from stockade.waf.proxy.workers import serve

__all__ = [
    "AuditLog",
    "BanList",
    "BlockPage",
    "CrsDecider",
    "ProxyConfig",
    "ProxyConfigError",
    "ProxyServer",
    "Upstream",
    "audit_event",
    "crs_engine_settings",
    "load_config",
    "parse_listen",
    "parse_size",
    "parse_upstream",
    "serve",
]
