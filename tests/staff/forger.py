"""A provider we control, for what a real one never sends: ID tokens tampered with, signed with a wrong key,
expired, for another audience or another nonce. A real HTTP server (discovery, authorize, token, userinfo, JWKS);
tokens made with joserfc.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

MODES = ("good", "tampered", "wrong-key", "expired", "wrong-audience", "wrong-nonce", "wrong-issuer", "alg-none")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Forger:
    def __init__(self, client_id: str, subject: str, email: str) -> None:
        self.client_id = client_id
        self.subject = subject
        self.email = email
        self.mode = "good"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "forger-1", "use": "sig", "alg": "RS256"})
        self.other = RSAKey.generate_key(2048, parameters={"kid": "forger-1", "use": "sig", "alg": "RS256"})
        self.nonces: dict[str, str] = {}
        self.issuer = ""

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": self.subject, "aud": self.client_id, "iat": now,
                                  "exp": now + 300, "nonce": nonce}
        if self.mode == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif self.mode == "wrong-audience":
            claims["aud"] = "someone-else"
        elif self.mode == "wrong-nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif self.mode == "wrong-issuer":
            claims["iss"] = "https://evil.example"
        header = {"alg": "RS256", "kid": "forger-1"}
        if self.mode == "alg-none":
            return f"{_b64(json.dumps({'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."
        token = jwt.encode(header, claims, self.other if self.mode == "wrong-key" else self.key)
        if self.mode == "tampered":
            head, _payload, signature = token.split(".")
            forged = {**claims, "sub": "someone-else"}
            token = f"{head}.{_b64(json.dumps(forged).encode())}.{signature}"
        return token


@contextmanager
def forging_provider(client_id: str, subject: str, email: str) -> Iterator[Forger]:
    forger = Forger(client_id, subject, email)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, value: Any) -> None:
            body = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/.well-known/openid-configuration":
                base = forger.issuer
                self._json({"issuer": base, "authorization_endpoint": base + "/authorize",
                            "token_endpoint": base + "/token", "userinfo_endpoint": base + "/userinfo",
                            "jwks_uri": base + "/jwks", "id_token_signing_alg_values_supported": ["RS256"],
                            "response_types_supported": ["code"], "subject_types_supported": ["public"],
                            "code_challenge_methods_supported": ["S256"]})
            elif url.path == "/jwks":
                self._json(KeySet([forger.key]).as_dict(private=False))
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                code = secrets.token_urlsafe(16)
                forger.nonces[code] = query.get("nonce", "")
                self.send_response(302)
                self.send_header("Location", query["redirect_uri"] + "?" + urlencode(
                    {"code": code, "state": query.get("state", "")}))
                self.end_headers()
            elif url.path == "/userinfo":
                self._json({"sub": forger.subject, "email": forger.email, "email_verified": True})
            else:
                self.send_response(404)
                self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            nonce = forger.nonces.pop(form.get("code", ""), None)
            if nonce is None:
                self.send_response(400)
                self.end_headers()
                return
            self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 60,
                        "id_token": forger.id_token(nonce)})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forger.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="forger", daemon=True)
    thread.start()
    try:
        yield forger
    finally:
        server.shutdown()
        server.server_close()
