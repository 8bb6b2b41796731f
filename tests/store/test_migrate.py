"""The alembic migrations (`migrate.py`) build the schema `schema.py` declares, once however many
engines open the database together."""

import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from auction_engine.store import Store
from auction_engine.store.schema import metadata


def _diff(connection):
    def include(obj, name, type_, reflected, compare_to):
        return name not in ("ix_lots_search_trgm", "alembic_version") and not name.startswith("lots_fts")

    context = MigrationContext.configure(connection, opts={"include_object": include, "compare_type": False})
    return compare_metadata(context, metadata)


async def test_migrations_build_the_declared_schema(store):
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_text_search_index_on_postgresql(store):
    if store.engine.dialect.name != "postgresql":
        return
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: [i["name"] for i in sa.inspect(c).get_indexes("lots")])
    assert "ix_lots_search_trgm" in names


async def test_reopening_and_concurrent_opens_migrate_once(database_url, tmp_path):
    stores = await asyncio.gather(*(Store.open(database_url, tmp_path) for _ in range(3)))
    try:
        assert all([await s.ping() for s in stores])
    finally:
        for s in stores:
            await s.close()
    again = await Store.open(database_url, tmp_path)
    await again.close()
