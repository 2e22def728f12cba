"""Builders of signed releases for the update tests: wheels of this source tree, broken ones, keys."""

from __future__ import annotations

import base64
import hashlib
import re
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


def signed_release(out: Path, version: str, key: Ed25519PrivateKey, *, broken: bool = False,
                   revokes: tuple[str, ...] = ()) -> Path:
    """A directory holding one release, signed with ``key`` (withdrawing the releases ``revokes``)."""
    directory = out / version
    directory.mkdir(parents=True)
    (broken_wheel if broken else source_wheel)(directory, version)
    sign(directory, version, key, revokes=revokes)
    return directory


def new_key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, public_key_of(key)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def reversioned_wheel(wheel: Path, out: Path, version: str) -> Path:
    """``wheel`` (borne's, as ``borne provision wheelhouse`` builds it from this tree) as release ``version``:
    the same code, its dist-info and ``kiosk.__version__`` saying ``version``, its RECORD made again."""
    with zipfile.ZipFile(wheel) as source:
        old_info = next(n.split("/")[0] for n in source.namelist() if n.endswith(".dist-info/METADATA"))
        new_info = f"borne-{version}.dist-info"
        files: dict[str, bytes] = {}
        for name in source.namelist():
            data = source.read(name)
            if name == f"{old_info}/RECORD":
                continue
            if name == "kiosk/__init__.py":
                data = re.sub(rb'__version__ = "[^"]*"', f'__version__ = "{version}"'.encode(), data)
            if name == f"{old_info}/METADATA":
                data = re.sub(rb"^Version: .*$", f"Version: {version}".encode(), data, count=1, flags=re.M)
            files[name.replace(f"{old_info}/", f"{new_info}/", 1)] = data
    record = "\n".join([*(_record_line(n, d) for n, d in files.items()), f"{new_info}/RECORD,,"]) + "\n"
    files[f"{new_info}/RECORD"] = record.encode()
    path = out / f"borne-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in files.items():
            target.writestr(name, data)
    return path
