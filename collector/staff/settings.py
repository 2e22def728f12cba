"""The sign-in's settings (``BORNE_OIDC_*``), read from the environment at each use.

Without a discovery URL, client id and client secret the OpenID Connect sign-in is off and the dashboard offers
the token sign-in only. The client secret comes from ``BORNE_OIDC_CLIENT_SECRET`` or from the file named by
``BORNE_OIDC_CLIENT_SECRET_FILE`` (a secret mount); there is no default, and it is never logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_LOG = logging.getLogger(__name__)


class OidcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BORNE_OIDC_", extra="ignore")

    discovery_url: str | None = Field(
        None, description="The provider's discovery document, e.g. "
                          "https://auth.agentconnect.gouv.fr/api/v2/.well-known/openid-configuration")
    client_id: str | None = Field(None, description="The collector's client id at the provider.")
    client_secret: SecretStr | None = Field(None, description="The client secret (or client_secret_file).")
    client_secret_file: Path | None = Field(None, description="A file holding the client secret.")
    scopes: str = Field("openid email", description="Scopes asked for; ProConnect: "
                                                    "openid email given_name usual_name siret uid")
    acr_values: str | None = Field(None, description="acr_values asked for (ProConnect: eidas1), if any.")
    provider_name: str = Field("ProConnect", description="The provider's name on the sign-in page.")
    public_url: str | None = Field(
        None, description="The collector's address as browsers reach it (https://collecteur.example.fr); "
                          "default: the request's. The redirect URI is this + /dashboard/oidc/callback.")
    access_contact: str | None = Field(
        None, description="Whom to ask for access (an address or a team), shown to people not on the list.")
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="A session unused this long ends.")
    session_max_hours: int = Field(10, ge=1, le=24 * 7, description="A session ends this long after sign-in.")
    cookie_secure: bool | None = Field(
        None, description="Mark cookies Secure; default: when the request came over HTTPS.")

    def secret(self) -> str | None:
        """The client secret, from the environment or its file; None when neither is set."""
        if self.client_secret is not None and self.client_secret.get_secret_value():
            return self.client_secret.get_secret_value()
        if self.client_secret_file is not None:
            value = self.client_secret_file.read_text(encoding="utf-8").strip()
            if not value:
                raise ValueError(f"{self.client_secret_file} is empty: no OpenID Connect client secret")
            return value
        return None

    @property
    def enabled(self) -> bool:
        return bool(self.discovery_url and self.client_id and
                    (self.client_secret is not None or self.client_secret_file is not None))


def current() -> OidcSettings:
    return OidcSettings()
