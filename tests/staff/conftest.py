"""A collector with staff on its access list, a real OpenID Connect provider (oidc-provider on Node.js) knowing
them, and headless Chromium."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector.db.engine import session_factory
from collector.staff import access
from devtools.builders import migrated_engine
from devtools.dashboard import serve
from devtools.demo_provider import PROCONNECT_SCOPES, DemoProvider, ProviderUnavailable
from tests.dashboard.seed import Place, seed

PLACES = [
    Place("fs-22a", "France services de Guingamp", "22", 0.97),
    Place("fs-22b", "France services de Lannion", "22", 0.85),
    Place("fs-29a", "France services de Morlaix", "29", 0.92),
    Place("fs-75a", "France services Paris 19e", "75", 0.90),
]


def person(login: str, email: str, given: str, usual: str) -> dict[str, str]:
    """A person as ProConnect describes them (the provider's subject is their login)."""
    return {"email": email, "given_name": given, "usual_name": usual,
            "siret": "13002526500013", "uid": login, "idp_id": "fia1v2", "organizational_unit": "ANCT"}


PEOPLE = {
    "admin": person("admin", "admin@anct.gouv.fr", "Alice", "Admin"),
    "national": person("national", "partenaire@caf.fr", "Nora", "National"),
    "prefecture": person("prefecture", "referent@cotes-darmor.gouv.fr", "Paul", "Préfet"),
    "agent": person("agent", "agent@morlaix.fr", "Anne", "Agent"),
    "inconnu": person("inconnu", "inconnu@example.gouv.fr", "Ivan", "Inconnu"),
    "bientot": person("bientot", "bientot@example.gouv.fr", "Bea", "Bientôt"),
}
#: Who is on the list: by email, or (the national partner) by the provider's subject.
LISTED = {
    "admin": ("admin", None, "email"),
    "national": ("national", None, "subject"),
    "prefecture": ("prefecture", "22", "email"),
    "agent": ("agent", "fs-29a", "email"),
}
CONTACT = "france-services@anct.gouv.fr"


@dataclass
class Staff:
    url: str
    engine: Engine
    provider: DemoProvider

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)


@pytest.fixture(scope="session")
def staff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staff]:
    folder = tmp_path_factory.mktemp("staff")
    engine = migrated_engine(f"sqlite:///{folder / 'borne.sqlite3'}")
    seed(engine, PLACES, days=3)
    with session_factory(engine)() as db, db.begin():
        for login, (role, scope, by) in LISTED.items():
            who = PEOPLE[login]
            access.add(db, role=role, scope=scope, email=who["email"] if by == "email" else None,
                       subject=login if by == "subject" else None, actor="tests")
    saved = {k: v for k, v in os.environ.items() if k.startswith("BORNE_OIDC_")}
    with serve(engine) as url:
        provider = DemoProvider(PEOPLE, redirect_uris=[url + "/dashboard/oidc/callback"],
                                post_logout_redirect_uris=[url + "/dashboard/oidc/deconnecte"])
        try:
            provider.start()
        except ProviderUnavailable as exc:
            pytest.fail(f"{exc} (make test installs it)")
        os.environ.update(BORNE_OIDC_DISCOVERY_URL=provider.discovery_url, BORNE_OIDC_CLIENT_ID=provider.client_id,
                          BORNE_OIDC_CLIENT_SECRET=provider.client_secret, BORNE_OIDC_SCOPES=PROCONNECT_SCOPES,
                          BORNE_OIDC_ACCESS_CONTACT=CONTACT)
        try:
            yield Staff(url, engine, provider)
        finally:
            provider.stop()
            for key in [k for k in os.environ if k.startswith("BORNE_OIDC_")]:
                del os.environ[key]
            os.environ.update(saved)
    engine.dispose()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookie), in French."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


def provider_login(page: Any, login: str) -> None:
    """oidc-provider's development login form: any password."""
    page.wait_for_selector('input[name="login"]')
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any password")
    page.click('button[type="submit"]')


def sign_in(page: Any, staff: Staff, login: str, path: str = "/dashboard/") -> None:
    """From a dashboard page, through the sign-in page and the provider, back to that page."""
    page.goto(staff.url + path)
    page.wait_for_url(re.compile(r"/dashboard/connexion"))
    page.click("#oidc-signin")
    provider_login(page, login)
    page.wait_for_url(re.compile(re.escape(staff.url) + r"/dashboard/(?!oidc/)"))
