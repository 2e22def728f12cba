"""A real OpenID Connect provider for ``borne demo`` and the sign-in tests: ``dev/oidc/provider.mjs`` on Node.js.

panva's ``oidc-provider`` (npm), configured like ProConnect (code flow with PKCE, signed ID tokens and userinfo,
ProConnect's claims, RP-initiated logout), with a few people to sign in as. ``make demo`` and ``make test``
install it (``npm ci`` in ``dev/oidc``). Its client secret is made here, at random, for each start, and given to
the provider through its environment, never on a command line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parents[1] / "dev" / "oidc"
SCRIPT = FOLDER / "provider.mjs"
#: ProConnect's scopes: one a claim.
PROCONNECT_SCOPES = "openid email given_name usual_name siret uid idp_id organizational_unit"


class ProviderUnavailable(RuntimeError):
    """Node.js or the provider's packages are missing (``make demo`` installs them), or it did not start."""


class DemoProvider:
    """``with DemoProvider(people, redirect_uris=[...]) as provider:`` then ``provider.discovery_url``."""

    def __init__(self, people: Mapping[str, Mapping[str, Any]], *, redirect_uris: list[str],
                 post_logout_redirect_uris: list[str] | None = None, client_id: str = "borne-collecteur",
                 id_token_alg: str = "RS256",  # noqa: S107 - an algorithm
                 userinfo_alg: str | None = "RS256", port: int = 0) -> None:
        self.people = {k: dict(v) for k, v in people.items()}
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(32)
        self.redirect_uris = redirect_uris
        self.post_logout_redirect_uris = post_logout_redirect_uris or []
        self.id_token_alg = id_token_alg
        self.userinfo_alg = userinfo_alg
        self.port = port
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self, timeout: float = 30.0) -> DemoProvider:
        node = shutil.which("node")
        if node is None:
            raise ProviderUnavailable("Node.js is not installed (apt-get install nodejs npm)")
        if not (FOLDER / "node_modules" / "oidc-provider").is_dir():
            raise ProviderUnavailable(f"the provider's packages are missing: cd {FOLDER} && npm ci")
        self._folder = tempfile.TemporaryDirectory(prefix="borne-oidc-")
        config = Path(self._folder.name) / "provider.json"
        config.write_text(json.dumps({
            "port": self.port, "client_id": self.client_id, "client_secret_env": "BORNE_DEMO_OIDC_SECRET",
            "redirect_uris": self.redirect_uris, "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "id_token_signed_response_alg": self.id_token_alg, "userinfo_signed_response_alg": self.userinfo_alg,
            "people": self.people,
        }), encoding="utf-8")
        env = {**os.environ, "BORNE_DEMO_OIDC_SECRET": self.client_secret, "NODE_ENV": "development"}
        self._process = subprocess.Popen(
            [node, str(SCRIPT), str(config)], cwd=FOLDER, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        ready = threading.Event()

        stdout = self._process.stdout

        def read() -> None:
            for line in stdout or ():
                if line.startswith("ready "):
                    self.issuer = line.split()[1]
                    ready.set()
                else:
                    _LOG.debug("provider: %s", line.rstrip())

        threading.Thread(target=read, name="oidc-provider-output", daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise ProviderUnavailable("the OpenID Connect provider did not start")
        _LOG.info("OpenID Connect provider at %s", self.issuer)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> DemoProvider:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


#: The demo's people, one a role (and one the access list does not know): login -> (claims, role, scope).
DEMO_PEOPLE: dict[str, tuple[dict[str, str], str | None, str | None]] = {
    "admin": ({"email": "admin@demo.anct.gouv.fr", "given_name": "Alice", "usual_name": "Martin"}, "admin", None),
    "partenaire": ({"email": "partenaire@demo.caf.fr", "given_name": "Nora", "usual_name": "Bernard"},
                   "national", None),
    "prefecture-22": ({"email": "referent@demo.cotes-darmor.gouv.fr", "given_name": "Paul", "usual_name": "Le Goff"},
                      "prefecture", "22"),
    "agent-guingamp": ({"email": "agent@demo.guingamp.fr", "given_name": "Anne", "usual_name": "Le Bihan"},
                       "agent", "demo-22"),
    "inconnu": ({"email": "inconnu@demo.gouv.fr", "given_name": "Ivan", "usual_name": "Petit"}, None, None),
}


def start_demo_sign_in(engine: Any, api_url: str) -> DemoProvider:
    """Start the provider with the demo's people, point the collector at it (``BORNE_OIDC_*`` in this process's
    environment) and put the people on the access list. Raises :class:`ProviderUnavailable`."""
    from collector.db.engine import session_factory
    from collector.db.models import StaffAccess
    from collector.staff import access

    people = {login: {**claims, "siret": "13002526500013", "uid": login, "idp_id": "demo",
                      "organizational_unit": "démonstration"} for login, (claims, _, _) in DEMO_PEOPLE.items()}
    provider = DemoProvider(people, redirect_uris=[api_url + "/dashboard/oidc/callback"],
                            post_logout_redirect_uris=[api_url + "/dashboard/oidc/deconnecte"]).start()
    os.environ.update(BORNE_OIDC_DISCOVERY_URL=provider.discovery_url, BORNE_OIDC_CLIENT_ID=provider.client_id,
                      BORNE_OIDC_CLIENT_SECRET=provider.client_secret, BORNE_OIDC_SCOPES=PROCONNECT_SCOPES,
                      BORNE_OIDC_PROVIDER_NAME="ProConnect (démonstration)",
                      BORNE_OIDC_ACCESS_CONTACT="l'administrateur de la démonstration (admin)")
    from sqlalchemy import select

    from collector.db.models import Espace

    with session_factory(engine)() as db, db.begin():
        for claims, role, scope in DEMO_PEOPLE.values():
            if role is None or db.scalar(select(StaffAccess.id).where(StaffAccess.email == claims["email"])):
                continue
            if role == "agent" and scope is not None and db.get(Espace, scope) is None:
                _LOG.info("no demo agent at %s: a demo of fewer kiosks has no such espace", scope)
                continue
            access.add(db, role=role, scope=scope, email=claims["email"], actor="borne demo")
    return provider
