#!/usr/bin/env bash
# What the emulated Raspberry Pi (`make test-pi`) needs on the host, from Debian packages only:
#   qemu-system-arm       qemu-system-aarch64: the Pi, emulated (-M virt, Cortex-A72, TCG)
#   qemu-user-static      runs the arm64 maintainer scripts while mmdebstrap builds the root file system
#   mmdebstrap            builds an arm64 Debian Trixie root file system, like Raspberry Pi OS Lite
#   arch-test             what mmdebstrap checks foreign architectures with (only recommended by its package)
#   dosfstools mtools     the card's FAT boot partition (bootfs), filled without mounting anything
#   e2fsprogs fdisk       the ext4 root partition (mkfs.ext4 -d) and the card's partition table (sfdisk)
#   openssh-client        the test logs in as the technician would (ssh admin@kiosk)
#   mosquitto             the collector's broker, on the host's loopback
#   socat                 the one way out of the emulated Pi: its broker address, relayed to the host's loopback
# Then binfmt_misc is mounted and qemu-aarch64 registered, so that arm64 programs run in the chroot.
set -euo pipefail
want=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd qemu-system-aarch64 || want+=(qemu-system-arm)
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || have_cmd qemu-aarch64-static || want+=(qemu-user-static)
have_cmd mmdebstrap || want+=(mmdebstrap)
have_cmd arch-test || want+=(arch-test)
have_cmd mkfs.vfat || want+=(dosfstools)
have_cmd mcopy || want+=(mtools)
have_cmd mkfs.ext4 || want+=(e2fsprogs)
have_cmd sfdisk || want+=(fdisk)
have_cmd ssh || want+=(openssh-client)
have_cmd socat || want+=(socat)
have_cmd ssh-keygen || want+=(openssh-client)
have_cmd mosquitto || [ -x /usr/sbin/mosquitto ] || want+=(mosquitto)
[ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || want+=(debian-archive-keyring)
if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! have_cmd apt-get; then
    echo "missing Debian packages: ${want[*]}; install them with: sudo apt-get install ${want[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
if [ "$(id -u)" = 0 ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ -f "$conf" ]; then cat "$conf" > /proc/sys/fs/binfmt_misc/register
    else update-binfmts --enable qemu-aarch64; fi
  fi
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "binfmt_misc: qemu-aarch64 is not registered" >&2; exit 1; }
