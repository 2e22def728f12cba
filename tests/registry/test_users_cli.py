"""``borne collector users add|list|revoke``: a token shown once, working with the API, then revoked."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from borne.cli import app as borne_app
from borne.cli.errors import CliError
from collector.api.app import create_app
from devtools.builders import migrated_engine, register


def test_users_add_list_revoke(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    runner = CliRunner()
    env = {"BORNE_DATABASE_URL": sqlite_url}
    added = runner.invoke(borne_app, ["collector", "users", "add", "agent-1", "--role", "agent", "--scope", "fs-1"],
                          env=env)
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("borne_")
    listed = runner.invoke(borne_app, ["collector", "users", "list"], env=env)
    assert "agent-1\tagent\tfs-1\tactive" in listed.output and token not in listed.output
    bad = runner.invoke(borne_app, ["collector", "users", "add", "p", "--role", "prefecture"], env=env)
    assert isinstance(bad.exception, CliError) and "département" in str(bad.exception)
    with TestClient(create_app(engine)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/espaces/fs-1/satisfaction", headers=headers).status_code == 200
        revoked = runner.invoke(borne_app, ["collector", "users", "revoke", "agent-1"], env=env)
        assert revoked.exit_code == 0 and "1 token(s) revoked" in revoked.output
        assert client.get("/api/v1/espaces/fs-1/satisfaction", headers=headers).status_code == 401
    engine.dispose()
