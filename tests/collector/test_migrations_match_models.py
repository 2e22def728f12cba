"""Alembic owns the schema: upgrading an empty database gives exactly the tables the models declare."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from collector.db.engine import make_engine
from collector.db.migrate import alembic_config, models_on, upgrade
from collector.db.models import Base, Vote
from devtools.builders import migrated_engine, register, wire_batch


def test_migrations_create_the_models_schema(database_url: str) -> None:
    engine = migrated_engine(database_url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": models_on(conn.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
        assert diff == [], diff
        indexes = {i["name"] for i in inspect(engine).get_indexes("rollup_daily")}
        assert ("ix_rollup_daily_day" in indexes) == (engine.dialect.name == "postgresql")
    finally:
        engine.dispose()


def test_votes_lose_their_foreign_keys_and_keep_their_rows(database_url: str) -> None:
    """Migration i4votesidx copies ``votes`` on SQLite: the rows stay, both ways."""
    engine = make_engine(database_url)
    try:
        upgrade(engine, "i4areas")
        register(engine, {"k-1": ("fs-1", "22")})
        vote = wire_batch("k-1", [4]).votes[0]
        with engine.begin() as conn:
            conn.execute(insert(Vote).values(
                id=vote.id, kiosk_id="k-1", espace_id="fs-1", seq=1, answer=4, scale=4, satisfied=True,
                question=vote.question, ts=vote.ts, clock_synced=True, misuse=False, received_at=vote.ts))
        assert len(inspect(engine).get_foreign_keys("votes")) == 2
        upgrade(engine)
        assert inspect(engine).get_foreign_keys("votes") == []
        assert [i["name"] for i in inspect(engine).get_indexes("votes")] == ["ix_votes_espace_ts"]
        config = alembic_config(engine)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "i4areas")
        assert len(inspect(engine).get_foreign_keys("votes")) == 2
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(select(Vote.id, Vote.espace_id)).all() == [(vote.id, "fs-1")]
    finally:
        engine.dispose()


def test_votes_are_keyed_by_kiosk_and_id_and_keep_their_rows(database_url: str) -> None:
    """Migration tbvoteskey: the key becomes (kiosk_id, id), the rows stay, both ways; once two kiosks share an
    id, going back (a key of id alone) is refused rather than losing one."""
    engine = make_engine(database_url)
    try:
        upgrade(engine, "tbtokenexpiry")
        register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-2", "29")})
        vote = wire_batch("k-1", [4]).votes[0]
        row = {"id": vote.id, "espace_id": "fs-1", "seq": 1, "answer": 4, "scale": 4, "satisfied": True,
               "question": vote.question, "ts": vote.ts, "clock_synced": True, "misuse": False,
               "received_at": vote.ts}
        with engine.begin() as conn:
            conn.execute(insert(Vote).values(kiosk_id="k-1", **row))
        assert inspect(engine).get_pk_constraint("votes")["constrained_columns"] == ["id"]
        upgrade(engine)
        assert inspect(engine).get_pk_constraint("votes")["constrained_columns"] == ["kiosk_id", "id"]
        config = alembic_config(engine)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "tbtokenexpiry")
        assert inspect(engine).get_pk_constraint("votes")["constrained_columns"] == ["id"]
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(insert(Vote).values(kiosk_id="k-2", **{**row, "espace_id": "fs-2"}))
        with engine.connect() as conn:
            assert sorted(conn.execute(select(Vote.kiosk_id, Vote.id, Vote.espace_id)).all()) == [
                ("k-1", vote.id, "fs-1"), ("k-2", vote.id, "fs-2")]
        with pytest.raises(RuntimeError, match="downgrade refused"), engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "tbtokenexpiry")
        assert inspect(engine).get_pk_constraint("votes")["constrained_columns"] == ["kiosk_id", "id"]
    finally:
        engine.dispose()
