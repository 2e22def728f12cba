"""The kiosk's wheelhouse: every wheel a kiosk installs, pinned by hash, made once per release.

``borne provision wheelhouse --extra kiosk|touch --out DIR`` writes into ``DIR``:

- borne's own wheel (built from the source tree with ``pip wheel --no-deps``, or the one given);
- every dependency of the extra, as wheels for the Pi (Raspberry Pi OS Trixie, 64-bit: CPython 3.13 on
  ``manylinux_2_17`` to ``manylinux_2_41`` aarch64), fetched with ``pip download --only-binary=:all:``; no sdist
  ever reaches the card, so the kiosk builds nothing and needs no compiler;
- ``pip``'s wheel, so that the first boot needs neither the network nor the system's ``python3-venv``;
- ``requirements.txt``: one ``name==version --hash=sha256:...`` line per wheel, for ``pip install --no-index
  --require-hashes``: pip then installs exactly these files or nothing;
- ``manifest.json``: borne's version, the extra, the target, and each file's size and SHA-256.

:func:`verify` checks a wheelhouse against its manifest (the bundle copies only a complete, unaltered one), and
:func:`first_boot_install` is the shell command the first boot runs from the card.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.release import file_sha256

_LOG = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REQUIREMENTS = "requirements.txt"
EXTRAS = ("kiosk", "touch")
# Trixie's glibc is 2.41; manylinux wheels built for any older glibc run on it.
PI_PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{minor}_aarch64" for minor in range(17, 42)))
# lgpio (the Pi 5's pins, and gpiozero's first choice on every Pi) is not among them: PyPI has no lgpio wheel for
# CPython 3.13 on aarch64. Raspberry Pi OS ships it (python3-lgpio), and the venv sees it (--system-site-packages).
PI_EXTRA_REQUIREMENTS: tuple[str, ...] = ()
_WHEEL_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


class WheelhouseError(Exception):
    """The wheelhouse could not be made, or is not what its manifest says."""


@dataclass(frozen=True)
class Target:
    """Where the wheels will run: a platform list for pip, or the host itself (``platforms == ()``)."""

    name: str
    platforms: tuple[str, ...] = ()
    python_version: str | None = None
    extra_requirements: tuple[str, ...] = ()

    def pip_args(self) -> list[str]:
        if not self.platforms:
            return []
        args = [arg for platform in self.platforms for arg in ("--platform", platform)]
        if self.python_version:
            nodot = self.python_version.replace(".", "")
            args += ["--python-version", self.python_version, "--implementation", "cp",
                     "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
        return args


PI = Target("raspberrypi-trixie-arm64", PI_PLATFORMS, "3.13", PI_EXTRA_REQUIREMENTS)
HOST = Target("host")


@dataclass
class Wheel:
    name: str
    version: str
    file: str
    sha256: str
    size: int


@dataclass
class Manifest:
    borne_version: str
    extra: str
    target: str
    wheels: list[Wheel] = field(default_factory=list)

    def wheel(self, name: str) -> Wheel:
        key = _normalise(name)
        for wheel in self.wheels:
            if _normalise(wheel.name) == key:
                return wheel
        raise WheelhouseError(f"the wheelhouse has no {name} wheel")

    def to_json(self) -> str:
        return json.dumps({"borne_version": self.borne_version, "extra": self.extra, "target": self.target,
                           "wheels": [w.__dict__ for w in self.wheels]}, indent=1) + "\n"

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        try:
            data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            return cls(data["borne_version"], data["extra"], data["target"],
                       [Wheel(**w) for w in data["wheels"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WheelhouseError(f"{directory}: not a borne wheelhouse ({exc})") from None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()



def _pip(pip: Sequence[str], *args: str) -> None:
    command = [*pip, *args]
    _LOG.info("running %s", shlex.join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (our own argv)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise WheelhouseError(f"{shlex.join(command[len(pip):len(pip) + 1])} failed:\n{tail}")


def build_wheelhouse(out: Path, extra: str, *, source: Path | None = None, borne_wheel: Path | None = None,
                     target: Target = PI, index_args: Sequence[str] = (),
                     pip: Sequence[str] = (sys.executable, "-m", "pip")) -> Manifest:
    """Make the wheelhouse in ``out`` (emptied of wheels first) for ``extra``; returns its manifest.

    ``source`` is borne's source tree (its wheel is built with the default index, for the build backend only);
    ``borne_wheel`` a wheel already built. ``index_args`` (``--index-url``, ``--find-links``, ``--no-index``)
    apply to the dependencies."""
    if extra not in EXTRAS:
        raise WheelhouseError(f"the extra is one of {', '.join(EXTRAS)}, not {extra!r}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    if borne_wheel is None:
        if source is None:
            raise WheelhouseError("borne's source tree or wheel is needed")
        _pip(pip, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source))
        built = sorted(out.glob("borne-*.whl"))
        if len(built) != 1:
            raise WheelhouseError(f"pip wheel made {[p.name for p in built]}, not one borne wheel")
        borne_wheel = built[0]
    elif borne_wheel.parent.resolve() != out.resolve():
        (out / borne_wheel.name).write_bytes(borne_wheel.read_bytes())
        borne_wheel = out / borne_wheel.name
    wanted = [f"{borne_wheel.resolve()}[{extra}]", "pip", *target.extra_requirements]
    _pip(pip, "download", "--quiet", "--only-binary=:all:", "--dest", str(out), "--find-links", str(out),
         *target.pip_args(), *index_args, *wanted)
    sdists = sorted(p.name for p in out.iterdir() if p.suffix != ".whl" and p.name not in (MANIFEST, REQUIREMENTS))
    if sdists:
        raise WheelhouseError(f"not wheels: {', '.join(sdists)}")
    manifest = Manifest(_parse(borne_wheel.name)[1], extra, target.name)
    for path in sorted(out.glob("*.whl")):
        name, version = _parse(path.name)
        manifest.wheels.append(Wheel(name, version, path.name, file_sha256(path), path.stat().st_size))
    (out / REQUIREMENTS).write_text(requirements(manifest), encoding="utf-8")
    (out / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    _LOG.info("wheelhouse for borne[%s] %s (%s): %d wheels, %.1f MB", extra, manifest.borne_version, target.name,
              len(manifest.wheels), sum(w.size for w in manifest.wheels) / 1e6)
    return manifest


def _parse(filename: str) -> tuple[str, str]:
    match = _WHEEL_NAME.match(filename)
    if match is None:
        raise WheelhouseError(f"{filename}: not a wheel's file name")
    return match["name"], match["version"]


def requirements(manifest: Manifest) -> str:
    """The hash-pinned requirements: borne with its extra, then every other wheel, one hash per file."""
    lines = [f"# borne {manifest.borne_version}[{manifest.extra}] for {manifest.target}: "
             "pip install --no-index --require-hashes --find-links . -r requirements.txt"]
    by_name: dict[str, list[Wheel]] = {}
    for wheel in manifest.wheels:
        by_name.setdefault(_normalise(wheel.name), []).append(wheel)
    for key in sorted(by_name):
        wheels = by_name[key]
        versions = {w.version for w in wheels}
        if len(versions) != 1:
            raise WheelhouseError(f"{key}: several versions in the wheelhouse ({', '.join(sorted(versions))})")
        spec = f"borne[{manifest.extra}]" if key == "borne" else key
        hashes = " ".join(f"--hash=sha256:{w.sha256}" for w in wheels)
        lines.append(f"{spec}=={wheels[0].version} {hashes}")
    return "\n".join(lines) + "\n"


def verify(directory: Path) -> Manifest:
    """The manifest, once every file it lists is present with its size and hash, and nothing else is."""
    manifest = Manifest.load(directory)
    listed = {w.file for w in manifest.wheels}
    present = {p.name for p in directory.iterdir() if p.name not in (MANIFEST, REQUIREMENTS)}
    if present - listed:
        raise WheelhouseError(f"{directory}: files not in the manifest: {', '.join(sorted(present - listed))}")
    for wheel in manifest.wheels:
        path = directory / wheel.file
        if not path.is_file():
            raise WheelhouseError(f"{directory}: {wheel.file} is missing")
        if path.stat().st_size != wheel.size or file_sha256(path) != wheel.sha256:
            raise WheelhouseError(f"{directory}: {wheel.file} does not match its hash in the manifest")
    if (directory / REQUIREMENTS).read_text(encoding="utf-8") != requirements(manifest):
        raise WheelhouseError(f"{directory}: {REQUIREMENTS} does not match the manifest")
    manifest.wheel("borne")
    manifest.wheel("pip")
    return manifest


def first_boot_install(card_dir: str, manifest: Manifest, venv: str) -> str:
    """The first boot's shell command: a venv over the system's packages, then pip from the card's own wheel,
    offline, every file checked against its hash."""
    pip_wheel = f"{card_dir}/{manifest.wheel('pip').file}"
    return (f"python3 -m venv --without-pip --system-site-packages {venv} && "
            f"{venv}/bin/python {shlex.quote(pip_wheel)}/pip install --no-index --require-hashes "
            f"--no-cache-dir --find-links {shlex.quote(card_dir)} -r {shlex.quote(card_dir + '/' + REQUIREMENTS)}")


CARD_DIR = "borne-wheelhouse"  # on the boot partition


def copy_to_card(wheelhouse: Path, target: Path) -> list[Path]:
    """Copy a verified wheelhouse into the bundle (``target``, emptied first); returns the files written."""
    manifest = verify(wheelhouse)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    written = []
    for name in [*(w.file for w in manifest.wheels), REQUIREMENTS, MANIFEST]:
        copy = target / name
        copy.write_bytes((wheelhouse / name).read_bytes())
        written.append(copy)
    verify(target)
    return written


def offline_install(config: dict[str, Any], wheelhouse: Path, *, ui: str, boot: str, venv: str) -> None:
    """Change a bundle's cloud-config to install from the card's wheelhouse, with no network: no apt (Raspberry Pi
    OS Lite already has python3, gpiozero and lgpio), and the card's pinned wheels instead of any index."""
    manifest = Manifest.load(wheelhouse)
    if ui == "touch" and manifest.extra != "touch":
        raise WheelhouseError(f"{wheelhouse}: a touch kiosk needs a wheelhouse made with --extra touch "
                              f"(this one is for {manifest.extra})")
    config.pop("package_update", None)
    config.pop("packages", None)
    others = [command for command in config.get("runcmd", []) if venv not in " ".join(command)]
    install = first_boot_install(f"{boot}/{CARD_DIR}", manifest, venv)
    config["runcmd"] = [["sh", "-c", install], *others]
