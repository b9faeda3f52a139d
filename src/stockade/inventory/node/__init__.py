"""Node.js (npm) packages: installed ``node_modules`` and the lockfiles that pin them.

One module per file format (``package_json``, ``npm``, ``yarn``, ``pnpm``);
:class:`NodeCataloger` routes each wanted file to its parser.
"""

from stockade.inventory.node.cataloger import NodeCataloger

__all__ = ["NodeCataloger"]
