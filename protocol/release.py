"""Signed releases: what a kiosk may install, and the check that it was signed by the programme's key.

A release is a directory of wheels and one ``release.json``::

    {"manifest": {"v": 1, "version": "0.2.0", "created": "2026-12-01T10:00:00+00:00",
                  "files": [{"name": "borne-0.2.0-py3-none-any.whl", "sha256": "<64 hex>", "size": 123456}]},
     "signature": "<base64 of the Ed25519 signature of canonical(manifest)>"}

``canonical(manifest)`` is its JSON with sorted keys, no spaces, ASCII only: the bytes signed and checked, so
that a reordered or re-indented file is the same release and any other change is not. The key is Ed25519; the
private key stays with the programme (``borne release keygen``/``sign``, on a machine apart from the collector),
the public key goes in every kiosk's bundle. A kiosk installs only a release whose signature its key verifies,
then only files whose SHA-256 and size are those the signed manifest lists: whoever holds the collector (which
serves the files) cannot make a kiosk run code the programme did not sign.

Nor make it go back to an old signed release with a known flaw: a manifest may list ``revokes``, releases
withdrawn by the programme (``borne release sign --revoke 0.1.0``). A kiosk keeps every revocation of the
releases it installed and refuses a revoked release ever after (``refused 0.1.0: revoked by 0.2.0``); a
manifest without the field is signed as before.

Pure Python but for :func:`verify`, which imports ``cryptography`` when called (the kiosk and the collector
have it; the core command line does not need it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.checks import RELEASE_VERSION_RE as RELEASE_VERSION_RE  # one rule for the message and the manifest

_LOG = logging.getLogger(__name__)

RELEASE_FILE = "release.json"
#: A file of a release: a wheel's name, safe as a file name and in a URL (no slash, no leading dot).
FILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}\.whl")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
#: Bounds that keep a hostile manifest from exhausting a kiosk: files and bytes.
MAX_FILES = 200
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_RELEASE_FILE_BYTES = 256 * 1024
MAX_REVOKED = 1000


class ReleaseInvalid(ValueError):
    """A release that must not be installed: unreadable, badly signed, or a file that is not the one signed."""


@dataclass(frozen=True, slots=True)
class ReleaseFile:
    """One file of a release, as the signed manifest lists it."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A release's signed contents."""

    version: str
    created: str
    files: tuple[ReleaseFile, ...]
    #: Releases the programme withdrew (a flaw): a kiosk that installed this one never installs them again.
    revokes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "v": 1, "version": self.version, "created": self.created,
            "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in self.files]}
        if self.revokes:  # absent when empty: a manifest signed before the field keeps its signature
            manifest["revokes"] = list(self.revokes)
        return manifest


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no whitespace, ASCII."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def valid_version(version: str) -> bool:
    return isinstance(version, str) and RELEASE_VERSION_RE.fullmatch(version) is not None and ".." not in version


def parse_manifest(data: object) -> Manifest:
    """A manifest from its JSON object; raises :class:`ReleaseInvalid` saying what is wrong."""
    if not isinstance(data, dict):
        raise ReleaseInvalid("manifest: should be an object")
    unknown = set(data) - {"v", "version", "created", "files", "revokes"}
    if unknown:
        raise ReleaseInvalid(f"manifest: unknown field {sorted(unknown)[0]}")
    if data.get("v") != 1:
        raise ReleaseInvalid("manifest: v should be 1")
    version = data.get("version")
    if not isinstance(version, str) or not valid_version(version):
        raise ReleaseInvalid(f"manifest: invalid version {str(version)[:70]!r}")
    created = data.get("created")
    if not isinstance(created, str) or len(created) > 64:
        raise ReleaseInvalid("manifest: created should be a time")
    files = data.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise ReleaseInvalid(f"manifest: files should list 1 to {MAX_FILES} files")
    out: list[ReleaseFile] = []
    for i, item in enumerate(files):
        if not isinstance(item, dict) or set(item) != {"name", "sha256", "size"}:
            raise ReleaseInvalid(f"manifest: files.{i} should have name, sha256 and size")
        name, sha, size = item["name"], item["sha256"], item["size"]
        if not isinstance(name, str) or FILE_NAME_RE.fullmatch(name) is None or ".." in name:
            raise ReleaseInvalid(f"manifest: files.{i}: invalid file name {str(name)[:80]!r}")
        if not isinstance(sha, str) or _SHA256_RE.fullmatch(sha) is None:
            raise ReleaseInvalid(f"manifest: files.{i}: sha256 should be 64 lower-case hex digits")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_FILE_BYTES:
            raise ReleaseInvalid(f"manifest: files.{i}: size should be 1 to {MAX_FILE_BYTES} bytes")
        out.append(ReleaseFile(name, sha, size))
    if len({f.name for f in out}) != len(out):
        raise ReleaseInvalid("manifest: a file is listed twice")
    revokes = data.get("revokes", [])
    if not isinstance(revokes, list) or len(revokes) > MAX_REVOKED:
        raise ReleaseInvalid(f"manifest: revokes should list at most {MAX_REVOKED} versions")
    for i, revoked in enumerate(revokes):
        if not isinstance(revoked, str) or not valid_version(revoked):
            raise ReleaseInvalid(f"manifest: revokes.{i}: invalid version {str(revoked)[:70]!r}")
    if version in revokes:
        raise ReleaseInvalid(f"manifest: release {version} cannot revoke itself")
    return Manifest(version, created, tuple(out), tuple(sorted(set(revokes))))


def public_key_bytes(text: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key written as base64 (what a bundle carries)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ReleaseInvalid("the release public key is not base64") from None
    if len(raw) != 32:
        raise ReleaseInvalid("the release public key should be 32 bytes (Ed25519)")
    return raw


def verify(payload: bytes, public_key: str) -> Manifest:
    """The manifest of a ``release.json``, once its signature is checked with ``public_key`` (base64);
    raises :class:`ReleaseInvalid` for anything else: unreadable, unsigned, signed by another key, or altered."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(payload) > MAX_RELEASE_FILE_BYTES:
        raise ReleaseInvalid(f"{RELEASE_FILE}: larger than {MAX_RELEASE_FILE_BYTES} bytes")
    try:
        envelope = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReleaseInvalid(f"{RELEASE_FILE}: not JSON: {exc}") from None
    if not isinstance(envelope, dict) or set(envelope) != {"manifest", "signature"}:
        raise ReleaseInvalid(f"{RELEASE_FILE}: should hold exactly a manifest and its signature")
    signature = envelope["signature"]
    try:
        raw_signature = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except (binascii.Error, ValueError):
        raw_signature = b""
    if len(raw_signature) != 64:
        raise ReleaseInvalid("bad signature: not an Ed25519 signature")
    key = Ed25519PublicKey.from_public_bytes(public_key_bytes(public_key))
    if not isinstance(envelope["manifest"], dict):
        raise ReleaseInvalid("manifest: should be an object")
    try:
        key.verify(raw_signature, canonical(envelope["manifest"]))
    except InvalidSignature:
        raise ReleaseInvalid("bad signature: not signed by the programme's release key") from None
    return parse_manifest(envelope["manifest"])


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path``, in hexadecimal, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
