"""Builders of signed releases for the update tests: wheels of this source tree, broken ones, keys."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioning.release import public_key_of, sign

ROOT = Path(__file__).resolve().parents[2]
#: What a kiosk runs of borne: the packages of its wheel that the kiosk imports.
KIOSK_PACKAGES = ("kiosk", "protocol", "hardware")


def source_wheel(out: Path, version: str) -> Path:
    """A wheel of this tree's kiosk packages (a zip in site-packages layout, as setuptools makes)."""
    path = out / f"borne-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for package in KIOSK_PACKAGES:
            for source in sorted((ROOT / package).rglob("*")):
                if source.is_file() and "__pycache__" not in source.parts:
                    wheel.write(source, source.relative_to(ROOT).as_posix())
        wheel.writestr(f"borne-{version}.dist-info/METADATA",
                       f"Metadata-Version: 2.1\nName: borne\nVersion: {version}\n")
    return path


def broken_wheel(out: Path, version: str) -> Path:
    """A release whose kiosk does not come up: ``python -m kiosk`` exits with 3 at once."""
    path = out / f"borne-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("kiosk/__init__.py", "__version__ = 'broken'\n")
        wheel.writestr("kiosk/__main__.py", "import sys\nsys.stderr.write('broken release\\n')\nsys.exit(3)\n")
    return path


def signed_release(out: Path, version: str, key: Ed25519PrivateKey, *, broken: bool = False) -> Path:
    """A directory holding one release, signed with ``key``."""
    directory = out / version
    directory.mkdir(parents=True)
    (broken_wheel if broken else source_wheel)(directory, version)
    sign(directory, version, key)
    return directory


def new_key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, public_key_of(key)
