"""The Pi, emulated: ``qemu-system-aarch64 -M virt -cpu cortex-a72`` (TCG) on Debian's arm64 kernel.

Its network is the espace's worst case: qemu's user-mode network with ``restrict=on`` lets nothing out, except
explicit forwards on the machine's loopback: the guest's ``10.0.2.100:1883`` reaches the host's broker (one
``socat`` per connection, started by qemu), ``10.0.2.101:443`` the collector's API over HTTPS when an
``api_port`` is given (software updates), and the host's ``127.0.0.1:<ssh_port>`` reaches the guest's SSH
(the technician). The serial console goes to a file, for debugging a boot.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from collector.broker.mosquitto import free_port
from devtools.processes import stop

_LOG = logging.getLogger(__name__)

BROKER_IN_GUEST = ("10.0.2.100", 1883)
API_IN_GUEST = ("10.0.2.101", 443)


class EmulatedPi:
    def __init__(self, base: Path, card: Path, *, broker_port: int, ssh_key: Path, console: Path,
                 memory_mib: int = 2048, cpus: int = 2, api_port: int | None = None) -> None:
        self.base, self.card, self.ssh_key, self.console = base, card, ssh_key, console
        self.broker_port, self.memory_mib, self.cpus = broker_port, memory_mib, cpus
        self.api_port = api_port
        self.ssh_port = free_port()
        self.process: subprocess.Popen[Any] | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        host, port = BROKER_IN_GUEST
        net = (f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
               f"guestfwd=tcp:{host}:{port}-cmd:socat - TCP:127.0.0.1:{self.broker_port}")
        if self.api_port:
            api_host, api_port = API_IN_GUEST
            net += f",guestfwd=tcp:{api_host}:{api_port}-cmd:socat - TCP:127.0.0.1:{self.api_port}"
        return ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", str(self.cpus),
                "-m", str(self.memory_mib), "-kernel", str(self.base / "vmlinuz"),
                "-initrd", str(self.base / "initrd.img"),
                "-append", "root=LABEL=rootfs rootfstype=ext4 rootwait rw console=ttyAMA0",
                "-drive", f"file={self.card},if=none,format=raw,id=card", "-device", "virtio-blk-pci,drive=card",
                "-netdev", net,
                # No option ROM (PXE): the kernel is given, and Debian's ipxe-qemu, which holds it, is only
                # recommended by qemu-system-arm (deps.sh installs without recommends).
                "-device", "virtio-net-pci,netdev=net0,romfile=",
                "-device", "virtio-gpu-pci", "-display", "none", "-monitor", "none",
                "-serial", f"file:{self.console}", "-nodefaults", "-no-user-config"]

    def start(self) -> EmulatedPi:
        command = self.command()
        _LOG.info("starting %s", shlex.join(command))
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def close(self) -> None:
        stop(self.process, timeout=20)

    def __enter__(self) -> EmulatedPi:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ssh(self, command: str, *, timeout: float = 120, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """``command`` run as the bundle's ``admin`` user (sudo without a password), over the forwarded port."""
        argv = ["ssh", "-i", str(self.ssh_key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=20", "admin@127.0.0.1", command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"ssh {command!r}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def wait_ssh(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            try:
                if self.ssh("true", timeout=60, check=False).returncode == 0:
                    return True
            except subprocess.TimeoutExpired:
                pass
            time.sleep(10)
        return False

    def console_tail(self, chars: int = 6000) -> str:
        try:
            return self.console.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
