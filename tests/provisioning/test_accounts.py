"""Kiosks' grants and secrets, as tables."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from collector.accounts import hash_secret, kiosk_grants, new_secret, verify_secret
from collector.broker_auth import topic_matches


@pytest.mark.parametrize(("granted", "topic", "allowed"), [
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/k-1/votes", True),
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/k-1/selftest", True),
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/k-2/votes", False),
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/k-10/votes", False),
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/+/votes", False),
    ("fs/v1/kiosks/k-1/#", "fs/v1/kiosks/#", False),
    ("fs/v1/kiosks/k-1/receipts", "fs/v1/kiosks/k-1/receipts", True),
    ("fs/v1/kiosks/k-1/receipts", "fs/v1/kiosks/k-1/receipts/x", False),
    ("fs/v1/kiosks/k-1/receipts", "fs/v1/kiosks/k-1/#", False),
    ("fs/v1/kiosks/+/receipts", "fs/v1/kiosks/k-9/receipts", True),
    ("fs/v1/kiosks/+/receipts", "fs/v1/kiosks/k-9/votes", False),
    ("fs/v1/kiosks/#", "fs/v1/kiosks/+/votes", True),
])
def test_topic_matches(granted: str, topic: str, allowed: bool) -> None:
    assert topic_matches(granted, topic) is allowed


def test_a_kiosk_is_granted_only_its_own_topics() -> None:
    grants = kiosk_grants("k-1")
    assert grants.publish == ("fs/v1/kiosks/k-1/#",)
    assert grants.subscribe == ("fs/v1/kiosks/k-1/receipts", "fs/v1/kiosks/k-1/config")
    with pytest.raises(ValueError, match="invalid kiosk id"):
        kiosk_grants("K/#")


def test_secrets() -> None:
    secret = new_secret()
    assert len(secret) >= 43 and secret != new_secret()
    stored = hash_secret(secret)
    assert secret not in stored and stored.startswith("sha256$")
    assert verify_secret(stored, secret) and not verify_secret(stored, secret + "x")
    assert verify_secret(PasswordHasher().hash("chosen by a person"), "chosen by a person")
    assert not verify_secret(None, secret) and not verify_secret("garbage", secret)
