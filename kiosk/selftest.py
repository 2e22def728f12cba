"""The kiosk's self-test, run by the technician at installation (``borne kiosk selftest``).

Checks, in order: each button (the technician presses the one asked for), each LED (lit, the technician says
whether it is), the screen (a DRM or framebuffer device, for a touchscreen kiosk), clock synchronisation, the
disk (the outbox's folder writable, enough free space) and the broker (connecting with the kiosk's own
credentials). The report goes to the collector, retained on ``fs/v1/kiosks/<id>/selftest``, and to
``<data_dir>/selftest.json``. ``borne provision kiosk verify`` then reads it from the collector.

The kiosk's service must be stopped meanwhile: it holds the GPIO pins, and the kiosk's MQTT client id
(``kiosk-<id>``), the only one the broker lets the kiosk's account use.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig
from kiosk.health import LOW_DISK_BYTES, free_disk_bytes
from protocol.topics import TopicKind, kiosk_topic
from protocol.wire import CheckOutcome, SelfTestCheck, SelfTestReport

_LOG = logging.getLogger(__name__)

SCREEN_DEVICES = ("/dev/dri/card*", "/dev/fb*")


class Technician(Protocol):
    """Whoever runs the test: told what to do, asked what they see."""

    def tell(self, text: str) -> None: ...

    def confirm(self, question: str) -> bool: ...


@dataclass
class SelfTestOptions:
    press_timeout_s: float = 30.0
    broker_timeout_s: float = 15.0
    screen_devices: Sequence[str] = SCREEN_DEVICES
    min_free_bytes: int = LOW_DISK_BYTES
    technician_name: str | None = None
    version: str | None = None


@dataclass
class SelfTest:
    """Runs the checks against one configuration; :meth:`run` returns the report (and sends it)."""

    config: KioskConfig
    technician: Technician
    clock: Clock = field(default_factory=SystemClock)
    options: SelfTestOptions = field(default_factory=SelfTestOptions)
    pin_factory: Any = None
    _client: Any = None

    def run(self) -> SelfTestReport:
        checks = [self.check_buttons(), self.check_leds(), self.check_screen(), self.check_clock(),
                  self.check_disk(), self.check_broker()]
        report = SelfTestReport(
            ts=self.clock.now(), passed=all(c.outcome is not CheckOutcome.FAILED for c in checks), checks=tuple(checks),
            version=self.options.version, technician=self.options.technician_name,
        )
        self._save(report)
        sent = self._send(report)
        if not sent and self._client is not None:
            _LOG.warning("the self-test report could not be sent to the collector")
        self._disconnect()
        return report

    # -- the checks ---------------------------------------------------------------------------------------

    def check_buttons(self) -> SelfTestCheck:
        if self.config.ui != "gpio":
            return _check("buttons", CheckOutcome.SKIPPED, "touchscreen kiosk: no physical buttons")
        from gpiozero import Button

        pins = self.config.panel.buttons
        pressed: list[int] = []
        event = threading.Event()
        buttons: list[Any] = []

        def handler(answer: int) -> Callable[[], None]:
            def on_press() -> None:
                pressed.append(answer)
                event.set()
            return on_press

        try:
            for answer, pin in enumerate(pins, start=1):
                button = Button(pin, pull_up=self.config.panel.pull_up, pin_factory=self.pin_factory)
                button.when_pressed = handler(answer)
                buttons.append(button)
        except Exception as exc:
            _close_all(buttons)
            return _check("buttons", CheckOutcome.FAILED,
                          f"cannot open the buttons' pins ({exc}); is the kiosk service stopped?")
        problems = []
        try:
            for answer, pin in enumerate(pins, start=1):
                pressed.clear()
                event.clear()
                self.technician.tell(f"Press button {answer} of {len(pins)} (GPIO {pin}).")
                if not event.wait(self.options.press_timeout_s):
                    problems.append(f"button {answer} (GPIO {pin}): no press in {self.options.press_timeout_s:.0f}s")
                elif pressed[0] != answer:
                    problems.append(f"button {answer} (GPIO {pin}): button {pressed[0]} answered instead")
        finally:
            _close_all(buttons)
        if problems:
            return _check("buttons", CheckOutcome.FAILED, "; ".join(problems))
        return _check("buttons", CheckOutcome.PASSED, f"{len(pins)} buttons pressed in order")

    def check_leds(self) -> SelfTestCheck:
        if self.config.ui != "gpio":
            return _check("leds", CheckOutcome.SKIPPED, "touchscreen kiosk: no LEDs")
        from gpiozero import LED

        panel = self.config.panel
        leds = [(name, pin) for name, pin in (("thank-you", panel.thanks_led), ("status", panel.status_led))
                if pin is not None]
        if not leds:
            return _check("leds", CheckOutcome.SKIPPED, "no LED configured")
        problems = []
        for name, pin in leds:
            try:
                led = LED(pin, pin_factory=self.pin_factory)
            except Exception as exc:
                problems.append(f"{name} LED (GPIO {pin}): cannot open the pin ({exc})")
                continue
            try:
                led.on()
                if not self.technician.confirm(f"Is the {name} LED (GPIO {pin}) lit?"):
                    problems.append(f"{name} LED (GPIO {pin}) not lit")
            finally:
                led.close()
        if problems:
            return _check("leds", CheckOutcome.FAILED, "; ".join(problems))
        return _check("leds", CheckOutcome.PASSED, f"{len(leds)} LED(s) lit")

    def check_screen(self) -> SelfTestCheck:
        found = sorted(p for pattern in self.options.screen_devices for p in glob.glob(pattern))
        if self.config.ui != "touch":
            detail = f"GPIO kiosk; display devices: {', '.join(found) or 'none'}"
            return _check("screen", CheckOutcome.SKIPPED, detail)
        if not found:
            return _check("screen", CheckOutcome.FAILED,
                          "no display device (/dev/dri/card*, /dev/fb*): is the screen's cable in, and the "
                          "display overlay enabled in config.txt?")
        if not self.technician.confirm("Does the screen show the kiosk's picture, and does a touch respond?"):
            return _check("screen", CheckOutcome.FAILED, f"display device {found[0]} present but the technician "
                                                         "saw no picture or touch")
        return _check("screen", CheckOutcome.PASSED, f"display {found[0]}")

    def check_clock(self) -> SelfTestCheck:
        if self.clock.synced():
            return _check("clock", CheckOutcome.PASSED, f"synchronised, {self.clock.now():%Y-%m-%d %H:%M:%S%z}")
        return _check("clock", CheckOutcome.FAILED,
                      "not synchronised: check the network reaches an NTP server (timedatectl "
                      "timesync-status); votes are still counted, stamped as unsynchronised")

    def check_disk(self) -> SelfTestCheck:
        data_dir = self.config.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".selftest-", dir=data_dir)
            try:
                os.write(fd, b"borne selftest\n")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(name)
        except OSError as exc:
            return _check("disk", CheckOutcome.FAILED,
                          f"{data_dir} not writable ({exc.strerror}): is the data partition mounted read-write?")
        free = free_disk_bytes(data_dir)
        if free is None or free < self.options.min_free_bytes:
            return _check("disk", CheckOutcome.FAILED,
                          f"{data_dir}: only {(free or 0) // 2**20} MiB free (at least "
                          f"{self.options.min_free_bytes // 2**20} MiB needed)")
        return _check("disk", CheckOutcome.PASSED, f"{data_dir} writable, {free // 2**20} MiB free")

    def check_broker(self) -> SelfTestCheck:
        """The first broker of the kiosk's list that takes its credentials (``[broker] others`` after the first:
        a kiosk whose first broker is down works through another, so its self-test passes too, and says so)."""
        addresses = self.config.broker.addresses()
        failures: list[str] = []
        for host, port in addresses:
            check = self._check_one_broker(host, port)
            if check.outcome is CheckOutcome.PASSED:
                if failures:
                    check = _check("broker", CheckOutcome.PASSED, f"{check.detail}; not {'; '.join(failures)}")
                return check
            failures.append(check.detail)
        return _check("broker", CheckOutcome.FAILED, "; ".join(failures))

    def _check_one_broker(self, host: str, port: int) -> SelfTestCheck:
        from kiosk.mqtt_client import new_client

        broker = self.config.broker
        result: dict[str, str] = {}
        done = threading.Event()
        # The kiosk's own client id, the only one its account may use: the kiosk service is stopped meanwhile.
        try:
            client = new_client(self.config.kiosk_id, broker)
        except (OSError, ssl.SSLError) as exc:
            return _check("broker", CheckOutcome.FAILED, f"TLS set-up failed: {exc} (is ca_file right?)")

        def on_connect(c: Any, userdata: object, flags: object, reason: Any, props: object) -> None:
            result["reason"] = str(reason)
            result["ok"] = "" if getattr(reason, "is_failure", False) else "yes"
            done.set()

        client.on_connect = on_connect
        where = f"{host}:{port}"
        try:
            client.connect(host, port, keepalive=broker.keepalive_s)
        except (OSError, ssl.SSLError) as exc:
            return _check("broker", CheckOutcome.FAILED, f"cannot reach {where}: {exc} (network, firewall, DNS?)")
        client.loop_start()
        if not done.wait(self.options.broker_timeout_s):
            client.loop_stop()
            return _check("broker", CheckOutcome.FAILED, f"{where} did not answer in "
                                                         f"{self.options.broker_timeout_s:.0f}s")
        if not result.get("ok"):
            client.disconnect()
            client.loop_stop()
            return _check("broker", CheckOutcome.FAILED,
                          f"{where} refused the kiosk's credentials ({result.get('reason')}): were they "
                          "rotated or revoked? Copy the latest bundle's kiosk.toml")
        self._client = client
        return _check("broker", CheckOutcome.PASSED, f"connected to {where} as {broker.username or 'anonymous'}")

    # -- the report ---------------------------------------------------------------------------------------

    def _save(self, report: SelfTestReport) -> None:
        path = self.config.data_dir / "selftest.json"
        try:
            path.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
        except OSError as exc:
            _LOG.warning("could not save the self-test report to %s: %s", path, exc)

    def _send(self, report: SelfTestReport) -> bool:
        if self._client is None:
            return False
        info = self._client.publish(kiosk_topic(self.config.kiosk_id, TopicKind.SELFTEST), report.encode(),
                                    qos=1, retain=True)
        deadline = time.monotonic() + self.options.broker_timeout_s
        while not info.is_published() and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(info.is_published())

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()


def _check(name: str, outcome: CheckOutcome, detail: str) -> SelfTestCheck:
    (_LOG.info if outcome is not CheckOutcome.FAILED else _LOG.warning)("self-test %s: %s (%s)", name,
                                                                         outcome.value, detail)
    return SelfTestCheck(name=name, outcome=outcome, detail=detail[:500])


def _close_all(devices: Sequence[Any]) -> None:
    for device in devices:
        device.close()
