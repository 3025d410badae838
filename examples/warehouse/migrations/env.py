"""Alembic environment for the dagship example warehouse.

The target database comes from ``DAGSHIP_DATABASE_URL``; the ``sqlalchemy.url``
in alembic.ini is only a fallback for when the variable is unset. Both online
mode (``alembic upgrade head``) and offline mode (``alembic upgrade head --sql``)
are supported. The migrations only use types that work on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import os
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, make_url

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The migrations are hand written (no autogenerate), so there is no metadata.
target_metadata = None


def database_url() -> URL:
    raw = os.environ.get("DAGSHIP_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not raw:
        raise RuntimeError(
            "no database URL: set DAGSHIP_DATABASE_URL or sqlalchemy.url in alembic.ini"
        )
    if raw.startswith("postgres://"):  # Heroku-style alias SQLAlchemy rejects
        raw = "postgresql://" + raw[len("postgres://") :]
    url = make_url(raw)
    # SQLAlchemy 2.1 maps a bare "postgresql://" to the psycopg (v3) driver; the
    # project ships psycopg2-binary, so pick psycopg2 unless psycopg is installed.
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        url = url.set(drivername="postgresql+psycopg2")
    return url


def ensure_sqlite_parent_dir(url: URL) -> None:
    """Create the directory of a file-based SQLite database if it is missing."""
    if url.get_backend_name() != "sqlite":
        return
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def run_migrations_offline() -> None:
    """Emit the migration SQL to stdout without connecting to a database."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    ensure_sqlite_parent_dir(url)
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
