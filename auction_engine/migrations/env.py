"""Alembic environment. `auction_engine.store.migrate` runs it programmatically with a live
connection in `config.attributes["connection"]`; no alembic.ini is needed at runtime.

For development, `alembic -x url=sqlite:///auction-data/auction.db upgrade head` with
`script_location` pointed here works too (a sync URL).
"""

from alembic import context
from sqlalchemy import Connection, create_engine

from auction_engine.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise SystemExit("alembic: pass -x url=... or set sqlalchemy.url")
    with create_engine(url).begin() as conn:
        _run(conn)
