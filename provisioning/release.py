"""Making a signed release: the programme's Ed25519 key, and ``release.json`` over a directory of wheels.

Run on the programme's own machine, never on the collector: whoever holds the private key can make every kiosk
run its code. The private key is written with mode 0600 from its first byte (``O_EXCL``: an existing key is
never overwritten); the public key (base64, 44 characters) goes in every kiosk's bundle
(``update.public_key``). See :mod:`protocol.release` for the format and the checks a kiosk makes.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.release import (
    FILE_NAME_RE,
    MAX_FILES,
    RELEASE_FILE,
    Manifest,
    ReleaseFile,
    ReleaseInvalid,
    canonical,
    file_sha256,
    parse_manifest,
    valid_version,
)

_LOG = logging.getLogger(__name__)


def keygen(private_path: Path) -> str:
    """Write a new private key (PEM, mode 0600, refusing to overwrite one), and its public key beside it
    (:func:`public_key_path`, base64, for ``borne provision kiosk new --release-key``); returns the public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    public = public_key_of(key)
    public_key_path(private_path).write_text(public + "\n", encoding="ascii")
    return public


def public_key_path(private_path: Path) -> Path:
    """Where :func:`keygen` writes the public key of ``private_path``: beside it, ``.pub``."""
    return private_path.with_suffix(".pub")


def read_public_key(path: Path) -> str:
    """The release public key in ``path`` (what :func:`keygen` writes: one line of base64, or a PEM public
    key), as base64; :class:`ReleaseInvalid` saying why for anything else, a private key first of all (it must
    never go onto a card)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseInvalid(f"{path}: cannot read a public key ({exc})") from None
    if "PRIVATE KEY" in text:
        raise ReleaseInvalid(f"{path} is a private key: give the public one ({public_key_path(path).name}); the "
                             "private key stays on the programme's machine")
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise ReleaseInvalid(f"{path}: not a public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ReleaseInvalid(f"{path}: not an Ed25519 key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ReleaseInvalid(f"{path}: not an Ed25519 public key (44 characters of base64, or PEM)")
    return text


def public_key_of(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ReleaseInvalid(f"{path}: not a usable private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseInvalid(f"{path}: not an Ed25519 key")
    return key



def manifest_of(directory: Path, version: str, created: datetime | None = None,
                revokes: Sequence[str] = ()) -> Manifest:
    """The manifest of every wheel in ``directory``; ``revokes``: releases this one withdraws."""
    if not valid_version(version):
        raise ReleaseInvalid(f"invalid version {version!r}: letters, digits, '.', '+', '_', '-'")
    wheels = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix == ".whl")
    if not wheels:
        raise ReleaseInvalid(f"{directory}: no wheel to release")
    if len(wheels) > MAX_FILES:
        raise ReleaseInvalid(f"{directory}: more than {MAX_FILES} wheels")
    bad = [p.name for p in wheels if FILE_NAME_RE.fullmatch(p.name) is None]
    if bad:
        raise ReleaseInvalid(f"{directory}: unusable file name {bad[0]!r}")
    files = tuple(ReleaseFile(p.name, file_sha256(p), p.stat().st_size) for p in wheels)
    when = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    manifest = Manifest(version, when, files, tuple(sorted(set(revokes))))
    parse_manifest(manifest.to_dict())  # the kiosk's checks, before anything is signed
    return manifest


def sign(directory: Path, version: str, private_key: Ed25519PrivateKey, revokes: Sequence[str] = ()) -> Path:
    """Write ``directory/release.json``: the manifest of its wheels (and the releases it revokes), signed;
    returns its path."""
    manifest = manifest_of(directory, version, revokes=revokes).to_dict()
    signature = base64.b64encode(private_key.sign(canonical(manifest))).decode("ascii")
    path = directory / RELEASE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"manifest": manifest, "signature": signature}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    _LOG.info("release %s signed: %d files", version, len(manifest["files"]))
    return path
