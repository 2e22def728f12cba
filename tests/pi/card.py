"""The emulated Pi's SD card: Raspberry Pi OS's layout, with the bundle on the boot partition.

``deploy/pi/build-image.sh`` builds the arm64 Trixie root file system once (cached under ``.cache/pi``);
:func:`make_card` lays out a card per test as Raspberry Pi Imager would write one, then as the technician
copies the bundle: partition 1 ``bootfs`` (FAT32, 512 MiB, from 4 MiB), partition 2 ``rootfs`` (ext4), then free
space, where borne's first boot makes its data partition. No loop device, no mount: mtools and dd.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("BORNE_PI_CACHE", ROOT / ".cache" / "pi"))  # shared between clones if set
SECTOR = 512
BOOT_START = 8192  # sectors: 4 MiB, as Raspberry Pi OS's images
BOOT_MIB = 512
# Raspberry Pi OS's own cmdline.txt, less its Pi-only options (borne's first boot edits it: consoleblank=0).
CMDLINE = "console=serial0,115200 console=tty1 root=LABEL=rootfs rootfstype=ext4 fsck.repair=yes rootwait\n"
CONFIG_TXT = "# Raspberry Pi firmware settings (unused by the emulator)\narm_64bit=1\ndtoverlay=vc4-kms-v3d\n"


def build_base(cache: Path = CACHE) -> Path:
    """The cached base (rootfs.ext4, vmlinuz, initrd.img): built on first use, which takes a while."""
    result = subprocess.run(["bash", str(ROOT / "deploy/pi/build-image.sh"), str(cache)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"build-image.sh failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


def make_card(base: Path, bundle: Path, card: Path, *, size_gib: int = 6) -> Path:
    """``card``: a fresh card image with the bundle's files on its boot partition."""
    rootfs = base / "rootfs.ext4"
    root_start = BOOT_START + BOOT_MIB * 2048
    root_sectors = rootfs.stat().st_size // SECTOR
    total = size_gib * 1024**3
    assert (root_start + root_sectors) * SECTOR < total, "the card is too small for the root file system"
    boot = card.with_suffix(".bootfs")
    boot.unlink(missing_ok=True)
    _run("mkfs.vfat", "-F", "32", "-n", "bootfs", "-C", str(boot), str(BOOT_MIB * 1024))
    for name, text in (("cmdline.txt", CMDLINE), ("config.txt", CONFIG_TXT)):  # Raspberry Pi OS's own files
        if not (bundle / name).exists():
            (bundle / name).write_text(text)
    _run("mcopy", "-s", "-Q", "-i", str(boot), *(str(p) for p in sorted(bundle.iterdir())), "::/")
    with card.open("wb") as f:
        f.truncate(total)
    table = (f"label: dos\nstart={BOOT_START}, size={BOOT_MIB * 2048}, type=c\n"
             f"start={root_start}, size={root_sectors}, type=83\n")
    subprocess.run(["sfdisk", "-q", str(card)], input=table, text=True, check=True, capture_output=True)
    _run("dd", f"if={boot}", f"of={card}", "bs=1M", f"seek={BOOT_START * SECTOR // 2**20}", "conv=notrunc,sparse",
         "status=none")
    _run("dd", f"if={rootfs}", f"of={card}", "bs=1M", f"seek={root_start * SECTOR // 2**20}", "conv=notrunc,sparse",
         "status=none")
    boot.unlink()
    _LOG.info("card %s: bootfs with %d files, rootfs from %s", card, len(list(bundle.iterdir())), base)
    return card


def tools_missing() -> list[str]:
    return [t for t in ("qemu-system-aarch64", "mmdebstrap", "mkfs.vfat", "mcopy", "sfdisk", "socat", "ssh")
            if shutil.which(t) is None]
