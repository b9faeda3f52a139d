"""The Console: one server over one store for inventory, findings, compliance and events.

``build_app`` gives the ASGI app over an opened store (``open_store``);
``publish_scan`` is the client side of ``POST /api/v1/scans``.
"""

from stockade.console.client import publish_check, publish_scan
from stockade.console.config import ConsoleConfig, database_url, default_data_dir
from stockade.console.errors import ConsoleError
from stockade.console.roles import Permission, Role
from stockade.console.service import build_app, create_first_admin, open_store, require_admin

__all__ = [
    "ConsoleConfig",
    "ConsoleError",
    "Permission",
    "Role",
    "build_app",
    "create_first_admin",
    "database_url",
    "default_data_dir",
    "open_store",
    "publish_check",
    "publish_scan",
    "require_admin",
]
