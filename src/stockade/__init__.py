"""Stockade: a cloud-native security suite.

The CLI and the Console are two faces of this library: anything the CLI does,
``import stockade`` can do.
"""

from stockade.core.errors import StockadeError

__version__ = "0.1.0"

__all__ = ["StockadeError", "__version__"]
