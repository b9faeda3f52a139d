"""Helpers shared by tests and benchmarks: builders of real artifacts, cached by content.

Import them directly (``from tests.support.images import bookworm_image``); nothing here
relies on pytest fixtures, so the benchmarks use the same builders.
"""
