"""Matching packages to advisories: version schemes, ranges, and the matcher (pure, no I/O)."""

from stockade.match.matcher import AdvisoryLookup, Query, advisory_url, match, query_for

__all__ = ["AdvisoryLookup", "Query", "advisory_url", "match", "query_for"]
