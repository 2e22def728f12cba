"""The collector's provisioning API, over HTTP (httpx), as the technician's commands use it."""

from __future__ import annotations

import logging
from typing import Any

import httpx

_LOG = logging.getLogger(__name__)

API = "/api/v1/provision/kiosks"


class ProvisionError(RuntimeError):
    """The collector refused a request or could not be reached; the message says why, in one line."""


class CollectorClient:
    """Admin calls on one collector; a context manager. ``transport`` lets tests call an app in process."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not token:
            raise ProvisionError("an admin API token is needed: --token, or BORNE_ADMIN_TOKEN in the environment")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}"})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProvisionError(f"cannot reach the collector at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ProvisionError(f"the collector answered {response.status_code}: {detail}")
        return response.json()

    def register(self, espace_id: str, kiosk_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"espace_id": espace_id}
        if kiosk_id:
            body["kiosk_id"] = kiosk_id
        result: dict[str, Any] = self._call("POST", API, json=body)
        return result

    def kiosks(self, espace_id: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", API, params={"espace_id": espace_id} if espace_id else {})
        return result

    def kiosk(self, kiosk_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"{API}/{kiosk_id}")
        return result

    def verify(self, kiosk_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"{API}/{kiosk_id}/verify")
        return result

    def revoke(self, kiosk_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"{API}/{kiosk_id}/revoke")
        return result

    def rotate(self, kiosk_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"{API}/{kiosk_id}/rotate")
        return result

    def move(self, kiosk_id: str, espace_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"{API}/{kiosk_id}/move", json={"espace_id": espace_id})
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CollectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
