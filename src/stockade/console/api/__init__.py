"""The Console's HTTP API (FastAPI): ``create_app`` builds it over a store."""

from stockade.console.api.app import create_app

__all__ = ["create_app"]
