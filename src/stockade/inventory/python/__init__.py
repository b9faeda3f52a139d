"""Python (PyPI) packages: installed distributions and the project files that pin them.

One module per file format (``metadata``, ``requirements``, ``pipenv``, ``poetry``,
``uv``); :class:`PythonCataloger` routes each wanted file to its parser.
"""

from stockade.inventory.python.cataloger import PythonCataloger

__all__ = ["PythonCataloger"]
