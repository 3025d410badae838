"""dbt-duckdb plugin used by the example warehouse profile.

It does two things that make the example run offline from a fresh checkout:

1. Before DuckDB opens its database file it creates the parent directories of
   the DuckDB file and of every attached file (``.dagship/local/...``).
2. Before dbt-duckdb runs the profile's ``attach:`` statements it loads DuckDB's
   ``sqlite_scanner`` extension from the ``duckdb-extension-sqlite-scanner``
   wheel (pinned in requirements.txt). DuckDB would otherwise try to download
   the extension from extensions.duckdb.org on the first ``ATTACH ... (TYPE
   sqlite)``, which fails without internet access. If the wheel is not
   installed it falls back to DuckDB's normal ``INSTALL``/``LOAD``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Dict

from dbt.adapters.duckdb.plugins import BasePlugin


def _local_file(path: str | None) -> Path | None:
    if not path or path == ":memory:" or path.startswith(":memory:"):
        return None
    if "://" in path or path.startswith(("md:", "motherduck:")):
        return None
    return Path(path).expanduser()


def _bundled_extension(conn, module: str, name: str) -> Path | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    version = conn.execute("PRAGMA version").fetchone()[0]
    candidate = Path(mod.__file__).parent / "extensions" / version / f"{name}.duckdb_extension"
    return candidate if candidate.is_file() else None


class Plugin(BasePlugin):
    def initialize(self, plugin_config: Dict[str, Any]) -> None:
        self.extensions = plugin_config.get("extensions", ["sqlite_scanner"])

    def update_connection_config(self, creds, config: Dict[str, Any]) -> None:
        paths = [creds.path] + [a.path for a in (creds.attach or [])]
        for path in paths:
            local = _local_file(path)
            if local is not None:
                local.parent.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn) -> None:
        for name in self.extensions:
            bundled = _bundled_extension(conn, f"duckdb_extension_{name}", name)
            if bundled is not None:
                conn.execute(f"LOAD '{bundled.as_posix()}'")
            else:
                conn.execute(f"INSTALL {name}")
                conn.execute(f"LOAD {name}")
