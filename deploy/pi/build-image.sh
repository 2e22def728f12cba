#!/usr/bin/env bash
# An arm64 Debian Trixie card, like Raspberry Pi OS Lite (64-bit), for the emulated first boot (tests/pi/).
#
#   deploy/pi/build-image.sh [CACHE_DIR]        (default .cache/pi; run deploy/pi/deps.sh first, as root)
#
# Two stages, each cached under CACHE_DIR and reused:
#   1. rootfs-<key>.tar: mmdebstrap's arm64 root file system (slow: every maintainer script runs under
#      qemu-user); <key> is the hash of the package list and mmdebstrap's options below.
#   2. base-<key>/{rootfs.ext4,vmlinuz,initrd.img,packages.txt}: that tree made like Raspberry Pi OS (below), as an
#      ext4 image (mkfs.ext4 -d: no loop device, no mount); <key> is this script's hash.
# The card itself (bootfs + rootfs + free space for borne's data partition) is assembled per test by
# tests/pi/card.py, with the bundle on its boot partition. The last line printed is the base's folder.
#
# What it shares with Raspberry Pi OS Lite, and what it does not:
#   - Trixie, arm64, Python 3.13, systemd, cloud-init reading NoCloud from the FAT partition labelled bootfs
#     mounted on /boot/firmware, a `gpio` group, python3-gpiozero from the distribution (python3-lgpio is
#     Raspberry Pi OS's own package, not Debian's: the emulator drives the pins with gpiozero's mock factory);
#   - Debian's arm64 kernel for qemu's `virt` machine instead of the Pi's (no GPIO controller, no VC4: the pins
#     are gpiozero's mock factory, the screen SDL's offscreen driver); no raspi-config (borne-firstboot logs
#     that it is missing and goes on); systemd-networkd instead of NetworkManager.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/../../.cache/pi}
mkdir -p "$cache"
packages=(
  systemd systemd-sysv systemd-timesyncd udev dbus kmod
  linux-image-arm64 initramfs-tools
  cloud-init
  python3 python3-venv python3-gpiozero
  e2fsprogs fdisk dosfstools parted util-linux iproute2 procps sudo openssh-server ca-certificates netbase
  libgl1 libegl1 libgles2 libgl1-mesa-dri libmtdev1t64 libgbm1 libdrm2
)
mmdebstrap_args=(--mode=root --architectures=arm64 --variant=apt --aptopt='Acquire::Retries "3"'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/locale/*')
stage1_key=$(printf '%s\n' "${packages[@]}" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-12)
tarball=$cache/rootfs-$stage1_key.tar
out=$cache/base-$(sha256sum "$0" | cut -c1-12)
if [ -f "$out/rootfs.ext4" ]; then echo "$out"; exit 0; fi

start=$(date +%s)
if [ ! -f "$tarball" ]; then
  echo "stage 1: the arm64 Trixie root file system (slow: maintainer scripts run under qemu-user)"
  # what the touch kiosk's SDL2 and Mesa need, offscreen (llvmpipe) and on kmsdrm, is the last line of packages.
  mmdebstrap "${mmdebstrap_args[@]}" --format=tar --include="$(IFS=,; echo "${packages[*]}")" \
    trixie "$tarball.part" http://deb.debian.org/debian
  mv "$tarball.part" "$tarball"
  echo "stage 1: $(( $(date +%s) - start ))s"
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir "$root"
tar --numeric-owner -xpf "$tarball" -C "$root"
# Raspberry Pi OS's shape: partitions by label, the boot partition on /boot/firmware, a gpio group.
cat > "$root/etc/fstab" <<'FSTAB'
LABEL=rootfs  /               ext4  defaults,noatime  0  1
LABEL=bootfs  /boot/firmware  vfat  defaults          0  2
FSTAB
mkdir -p "$root/boot/firmware"
grep -q '^gpio:' "$root/etc/group" || chroot "$root" groupadd --system gpio
echo raspberrypi > "$root/etc/hostname"
# cloud-init: NoCloud from the boot partition, as Raspberry Pi OS does; ds-identify enabled whatever it finds.
cat > "$root/etc/cloud/cloud.cfg.d/90_borne_pi.cfg" <<'CFG'
datasource_list: [NoCloud, None]
datasource:
  NoCloud:
    fs_label: bootfs
CFG
printf 'policy: enabled\n' > "$root/etc/cloud/ds-identify.cfg"
# The network: DHCP on the wired interface (cloud-init renders the same with networkd).
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/20-wired.network" <<'NET'
[Match]
Name=en* eth*
[Network]
DHCP=yes
NET
chroot "$root" systemctl enable systemd-networkd.service
# Nobody logs in on the console; the technician comes in over SSH with the bundle's key.
chroot "$root" passwd --lock root >/dev/null
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin

mkdir -p "$work/out"
cp -L "$root/vmlinuz" "$work/out/vmlinuz"
cp -L "$root/initrd.img" "$work/out/initrd.img"
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' > "$work/out/packages.txt"
mkfs.ext4 -q -L rootfs -d "$root" "$work/out/rootfs.ext4" 3G
rm -rf "$out"
mv "$work/out" "$out"
echo "image built in $(( $(date +%s) - start ))s"
echo "$out"
