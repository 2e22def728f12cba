"""Kiosks' grants, user names and secrets, as tables."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from collector.broker.accounts import (
    ReservedKioskId,
    check_kiosk_id,
    hash_secret,
    kiosk_grants,
    kiosk_username,
    new_secret,
    verify_secret,
)
from protocol.topics import kiosk_client_id, valid_kiosk_id


def test_a_kiosk_is_granted_exactly_its_own_topics() -> None:
    grants = kiosk_grants("k-1")
    assert grants.publish == ("fs/v1/kiosks/k-1/votes", "fs/v1/kiosks/k-1/status", "fs/v1/kiosks/k-1/telemetry",
                              "fs/v1/kiosks/k-1/selftest")
    assert grants.subscribe == ("fs/v1/kiosks/k-1/receipts", "fs/v1/kiosks/k-1/config", "fs/v1/kiosks/k-1/release")
    assert not any("#" in g or "+" in g for g in grants.publish + grants.subscribe)
    with pytest.raises(ValueError, match="invalid kiosk id"):
        kiosk_grants("K/#")


@pytest.mark.parametrize("kiosk_id", ["k-1\n", "k-1\r", " k-1", "k", "K-1", "k/1", "k+1", "k#", "k-1\x00", ""])
def test_ids_are_matched_whole(kiosk_id: str) -> None:
    assert not valid_kiosk_id(kiosk_id)
    with pytest.raises(ValueError, match="invalid kiosk id"):
        kiosk_client_id(kiosk_id)
    with pytest.raises(ReservedKioskId):
        kiosk_username(kiosk_id)


@pytest.mark.parametrize("kiosk_id", ["admin", "root", "mosquitto", "borne-admin", "borne-collector",
                                      "borne-collector-host", "borne-accounts-1", "admin-1"])
def test_service_names_are_refused_as_kiosk_ids(kiosk_id: str) -> None:
    with pytest.raises(ReservedKioskId, match="reserved"):
        check_kiosk_id(kiosk_id)


def test_a_kiosk_has_its_own_user_name_and_client_id() -> None:
    assert kiosk_username("fs-22-001-a3f2") == "kiosk:fs-22-001-a3f2"
    assert kiosk_client_id("fs-22-001-a3f2") == "kiosk-fs-22-001-a3f2"


def test_secrets() -> None:
    secret = new_secret()
    assert len(secret) >= 43 and secret != new_secret()
    stored = hash_secret(secret)
    assert secret not in stored and stored.startswith("sha256$")
    assert verify_secret(stored, secret) and not verify_secret(stored, secret + "x")
    assert verify_secret(PasswordHasher().hash("chosen by a person"), "chosen by a person")
    assert not verify_secret(None, secret) and not verify_secret("garbage", secret)
