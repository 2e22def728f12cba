"""The OpenID Connect client: Authlib's, configured from the provider's discovery document.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``; the ID token's signature is checked by Authlib
against the provider's JWKS (fetched again once for an unknown key id), with its issuer, audience, expiry, nonce
and ``at_hash``. ProConnect signs its userinfo too (``application/jwt``): that answer is checked against the same
keys (joserfc, Authlib's JOSE library) with its issuer and audience, and must name the ID token's subject. A
plain JSON userinfo (any standard provider) is read as is, over the TLS connection to the provider.

The library's own client is used as a plain client (``create_authorization_url``, ``fetch_access_token``,
``parse_id_token``, ``create_logout_url``): the state it would keep in a cookie session is kept server-side by
:mod:`collector.staff.sessions` instead.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import authlib.deprecate  # noqa: F401 - first: it sets its warnings to "always", which our filter must follow

with warnings.catch_warnings():
    # Authlib 1.7+ warns, on import, that its own httpx integration (used by the Starlette client) is deprecated.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from collector.staff.settings import OidcSettings

_LOG = logging.getLogger(__name__)

CALLBACK_PATH = "/dashboard/oidc/callback"
SIGNED_OUT_PATH = "/dashboard/oidc/deconnecte"


class SignInFailed(Exception):
    """The provider's answer cannot be trusted or used; the message says why (never a secret)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    claims: dict[str, Any]  # ProConnect's siret, uid, idp_id, organizational_unit... (for the log)
    id_token: str


_clients: dict[tuple[str, ...], StarletteOAuth2App] = {}
_lock = threading.Lock()


def client(settings: OidcSettings) -> StarletteOAuth2App:
    """Authlib's client for these settings (one per configuration: its discovery document and keys cached)."""
    secret = settings.secret()
    if not settings.discovery_url or not settings.client_id or not secret:
        raise SignInFailed("OpenID Connect is not configured")
    key = (settings.discovery_url, settings.client_id, hashlib.sha256(secret.encode()).hexdigest(), settings.scopes)
    with _lock:
        app = _clients.get(key)
        if app is None:
            oauth = OAuth()
            app = oauth.register(
                "provider", server_metadata_url=settings.discovery_url, client_id=settings.client_id,
                client_secret=secret,
                client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256", "timeout": 10},
            )
            _clients[key] = app
        return app


async def authorization_url(settings: OidcSettings, redirect_uri: str, *, state: str, nonce: str,
                            code_verifier: str) -> str:
    extra = {"acr_values": settings.acr_values} if settings.acr_values else {}
    try:
        result = await client(settings).create_authorization_url(
            redirect_uri, state=state, nonce=nonce, code_verifier=code_verifier, **extra)
    except Exception as exc:  # the provider unreachable, a broken discovery document...
        _LOG.warning("OpenID Connect provider unusable: %s", type(exc).__name__)
        raise SignInFailed("le fournisseur d'identité ne répond pas") from None
    url: str = result["url"]
    return url


async def identity(settings: OidcSettings, redirect_uri: str, *, code: str, nonce: str,
                   code_verifier: str) -> Identity:
    """Trade ``code`` for tokens, check the ID token and read the userinfo; :class:`SignInFailed` otherwise."""
    app = client(settings)
    try:
        token = await app.fetch_access_token(redirect_uri=redirect_uri, code=code, code_verifier=code_verifier)
    except (OAuthError, Exception) as exc:
        _LOG.warning("token request refused: %s", getattr(exc, "error", type(exc).__name__))
        raise SignInFailed("le fournisseur d'identité a refusé le code") from None
    if "id_token" not in token:
        raise SignInFailed("le fournisseur n'a pas donné de jeton d'identité")
    metadata = await app.load_server_metadata()
    options = {"iss": {"essential": True, "values": [metadata.get("issuer")]},
               "aud": {"essential": True, "values": [settings.client_id]},
               "exp": {"essential": True}}
    try:
        claims = await app.parse_id_token(token, nonce=nonce, claims_options=options, leeway=60)
    except (JoseError, ValueError) as exc:
        _LOG.warning("ID token refused: %s", type(exc).__name__)
        raise SignInFailed(f"jeton d'identité refusé ({type(exc).__name__})") from None
    if not claims or not claims.get("sub"):
        raise SignInFailed("jeton d'identité sans sujet")
    subject = str(claims["sub"])
    info: dict[str, Any] = dict(claims)
    if metadata.get("userinfo_endpoint") and "access_token" in token:
        info.update(await _userinfo(app, settings, metadata, token, subject))
    name = " ".join(str(info[k]) for k in ("given_name", "usual_name") if info.get(k)) or \
        info.get("name") or " ".join(str(info[k]) for k in ("given_name", "family_name") if info.get(k)) or None
    verified = info.get("email_verified")
    return Identity(
        subject=subject, email=info.get("email"), email_verified=verified is not False and verified != "false",
        name=name, id_token=token["id_token"],
        claims={k: info[k] for k in ("siret", "uid", "idp_id", "organizational_unit", "acr") if k in info},
    )


async def _userinfo(app: StarletteOAuth2App, settings: OidcSettings, metadata: dict[str, Any],
                    token: dict[str, Any], subject: str) -> dict[str, Any]:
    try:
        # The header by hand: the client would refuse an access token within its minute of leeway of expiry,
        # and a provider's may last only a minute.
        response = await app.get(metadata["userinfo_endpoint"], withhold_token=True,
                                 headers={"Authorization": f"Bearer {token['access_token']}"})
        response.raise_for_status()
    except Exception as exc:
        _LOG.warning("userinfo unreadable: %s", type(exc).__name__)
        raise SignInFailed("le fournisseur n'a pas donné les informations de la personne") from None
    if response.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
        algorithms = metadata.get("userinfo_signing_alg_values_supported") or ["RS256", "ES256"]
        try:
            try:
                keys = KeySet.import_key_set(await app.fetch_jwk_set())
                decoded = jwt.decode(response.text, keys, algorithms=algorithms)
            except InvalidKeyIdError:  # the provider rotated its keys
                keys = KeySet.import_key_set(await app.fetch_jwk_set(force=True))
                decoded = jwt.decode(response.text, keys, algorithms=algorithms)
            # Checked when present (OpenID Connect: a signed userinfo SHOULD carry them; ProConnect's do).
            jwt.JWTClaimsRegistry(iss={"value": str(metadata.get("issuer"))},
                                  aud={"value": str(settings.client_id)}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            _LOG.warning("signed userinfo refused: %s", type(exc).__name__)
            raise SignInFailed(f"informations de la personne refusées ({type(exc).__name__})") from None
        data = dict(decoded.claims)
    else:
        data = response.json()
    if str(data.get("sub")) != subject:
        raise SignInFailed("les informations de la personne ne sont pas celles du jeton d'identité")
    return data


async def logout_url(settings: OidcSettings, *, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session address (with ``id_token_hint`` and a ``state``), or None without one."""
    try:
        app = client(settings)
        metadata = await app.load_server_metadata()
        if not metadata.get("end_session_endpoint"):
            return None
        result = await app.create_logout_url(post_logout_redirect_uri=post_logout_redirect_uri,
                                             id_token_hint=id_token, client_id=settings.client_id)
    except Exception as exc:
        _LOG.warning("no sign-out at the provider: %s", type(exc).__name__)
        return None
    url: str = result["url"]
    return url
