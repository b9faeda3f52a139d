"""The proxy as the CRS regression run needs it, in a process of its own:

``python -m tests.waf.proxy.ftw_proxy PORT UPSTREAM_URL AUDIT_LOG WORKERS``

It is :func:`stockade.waf.proxy.serve` (the same as ``stockade waf``) with CRS loaded as
CRS's regression README asks (:data:`stockade.waf.ftw.CRS_TEST_SETUP`: DetectionOnly,
paranoia level 4), which the command line does not offer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from stockade.waf.crs import load_crs
from stockade.waf.decision import Mode
from stockade.waf.ftw import CRS_TEST_SETUP
from stockade.waf.proxy import CrsDecider, ProxyConfig, parse_upstream, serve
from stockade.waf.seclang.engine import Plan


def main(argv: list[str]) -> None:
    port, upstream, audit, workers = argv
    decider = CrsDecider(Plan.build(load_crs(before=CRS_TEST_SETUP)), mode=Mode.PREVENT)
    config = ProxyConfig(
        upstream=parse_upstream(upstream),
        listen_port=int(port),
        workers=int(workers),
        audit_log=str(Path(audit)),
        # Stages that promise more body than they send should not cost 15 s each.
        body_timeout=2.0,
        header_timeout=5.0,
    )
    serve(config, decider)


if __name__ == "__main__":
    main(sys.argv[1:])
