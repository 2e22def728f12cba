"""ID tokens a provider we control forges: each refused, and no session given; a good one from it accepted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from collector.db.models import StaffAccess
from collector.staff import access
from tests.staff.conftest import Staff
from tests.staff.forger import MODES, Forger, forging_provider

EMAIL = "forge@example.gouv.fr"


@pytest.fixture
def forger(staff: Staff, monkeypatch: pytest.MonkeyPatch) -> Iterator[Forger]:
    with staff.sessions() as db, db.begin():
        if db.scalar(select(StaffAccess).where(StaffAccess.subject == "forged-subject")) is None:
            access.add(db, role="national", subject="forged-subject", actor="tests")
    with forging_provider("forged-client", "forged-subject", EMAIL) as forger:
        monkeypatch.setenv("BORNE_OIDC_DISCOVERY_URL", forger.issuer + "/.well-known/openid-configuration")
        monkeypatch.setenv("BORNE_OIDC_CLIENT_ID", "forged-client")
        monkeypatch.setenv("BORNE_OIDC_CLIENT_SECRET", "forged-client-secret")
        monkeypatch.setenv("BORNE_OIDC_SCOPES", "openid email")
        yield forger


@pytest.mark.parametrize("mode", MODES)
def test_forged_id_tokens_are_refused(staff: Staff, forger: Forger, context: Any, mode: str) -> None:
    forger.mode = mode
    page = context.new_page()
    response = page.goto(staff.url + "/dashboard/oidc/login?suite=/dashboard/parc")
    assert response is not None
    cookies = {c["name"] for c in context.cookies()}
    if mode == "good":
        assert page.url.startswith(staff.url + "/dashboard/parc"), page.url
        assert "borne_session" in cookies
        return
    assert response.status == 401, (mode, page.url)
    assert page.get_attribute("#staff-message", "data-reason") == "token"
    assert "jeton d'identité refusé" in page.inner_text("#staff-message-text")
    assert "borne_session" not in cookies
