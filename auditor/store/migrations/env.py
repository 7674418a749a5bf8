"""Alembic's environment for the store: run on the connection the store hands over.

``SqlStore`` opens the connection, begins the write transaction and passes the connection in
``config.attributes["connection"]``; Alembic runs inside that transaction and neither begins
nor commits one of its own. Run by hand (``alembic -x url=sqlite:///x.db upgrade head``, or
this package's ``__main__``), it connects to the URL itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from auditor.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite changes most columns by copying the table: "batch" operations do that.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("alembic: say which store: -x url=sqlite:///path")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


_main()
