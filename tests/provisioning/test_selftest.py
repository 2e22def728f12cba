"""``borne kiosk selftest`` on gpiozero's mock pins, pressed by a scripted technician, against a real Mosquitto
and collector: the report reaches the collector and ``verify`` reads it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from fastapi.testclient import TestClient
from gpiozero.pins.mock import MockFactory

from collector.api.app import create_app
from collector.broker.accounts import DynsecAccounts
from devtools.builders import collector_settings, migrated_engine, start_collector
from devtools.dynsec import DynsecMosquitto
from devtools.kiosk_sim import SimulatedKiosk, wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig, load_config
from kiosk.selftest import SelfTest, SelfTestOptions
from protocol.wire import CheckOutcome
from provisioning.bundle import BundleOptions, write_bundle
from tests.provisioning.conftest import admin_token, espaces, fake_wheel, invoke


class ScriptedTechnician:
    """Presses the button asked for (or ``wrong[n]`` instead of button n), and looks at the LEDs' pins."""

    def __init__(self, factory: MockFactory, config: KioskConfig, wrong: dict[int, int] | None = None) -> None:
        self.factory, self.config, self.wrong = factory, config, wrong or {}
        self.said: list[str] = []

    def tell(self, text: str) -> None:
        self.said.append(text)
        match = re.match(r"Press button (\d+)", text)
        if match:
            answer = self.wrong.get(int(match.group(1)), int(match.group(1)))
            pin = self.factory.pin(self.config.panel.buttons[answer - 1])
            pin.drive_low()
            pin.drive_high()

    def confirm(self, question: str) -> bool:
        self.said.append(question)
        match = re.search(r"GPIO (\d+)", question)
        return bool(match and self.factory.pin(int(match.group(1))).state)


def test_selftest_reaches_the_collector(dynsec_mosquitto: DynsecMosquitto, sqlite_url: str, tmp_path: Path) -> None:
    broker = dynsec_mosquitto
    engine = migrated_engine(sqlite_url)
    espaces(engine, {"fs-22-001": "France services de Lannion"})
    accounts = DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password)
    password = secrets.token_urlsafe(24)
    accounts.ensure_collector("borne-collector", password)
    collector = start_collector(collector_settings(sqlite_url, broker.port, tmp_path / "collector",
                                                   mqtt_username="borne-collector", mqtt_password=password))
    app = create_app(engine)
    app.state.borne.extra.update(accounts=accounts,
                                 kiosk_broker={"host": "127.0.0.1", "port": broker.port, "tls": False})
    headers = {"Authorization": f"Bearer {admin_token(engine)}"}
    try:
        with TestClient(app) as api:
            credentials = api.post("/api/v1/provision/kiosks", json={"espace_id": "fs-22-001", "kiosk_id": "k-1"},
                                   headers=headers).json()
            write_bundle(tmp_path / "bundle", credentials, BundleOptions(wheel=fake_wheel(tmp_path / "dist")))
            config = load_config(tmp_path / "bundle" / "kiosk.toml", data_dir=tmp_path / "data")

            def verification() -> dict[str, object]:
                result: dict[str, object] = api.get("/api/v1/provision/kiosks/k-1/verify", headers=headers).json()
                return result

            options = SelfTestOptions(press_timeout_s=5, screen_devices=[])
            # The technician presses button 3 when asked for button 2: the test fails, and says which.
            factory = MockFactory()
            try:
                technician = ScriptedTechnician(factory, config, wrong={2: 3})
                report = SelfTest(config, technician, ManualClock(), options, pin_factory=factory).run()
            finally:
                factory.close()
            outcomes = {c.name: c.outcome for c in report.checks}
            assert not report.passed and outcomes["buttons"] is CheckOutcome.FAILED
            assert "button 2 (GPIO 6): button 3 answered instead" in report.checks[0].detail
            assert outcomes["leds"] is CheckOutcome.PASSED and outcomes["broker"] is CheckOutcome.PASSED
            assert wait_until(lambda: "its self-test failed: buttons" in str(verification()["problems"]), 20)

            factory = MockFactory()
            try:
                technician = ScriptedTechnician(factory, config)
                report = SelfTest(config, technician, ManualClock(), options, pin_factory=factory).run()
            finally:
                factory.close()
            assert report.passed, report.checks
            assert [c.name for c in report.checks] == ["buttons", "leds", "screen", "clock", "disk", "broker"]
            assert (tmp_path / "data" / "selftest.json").exists()
            assert wait_until(lambda: verification()["selftest_passed"] is True, 20)
            assert verification()["ok"] is False, "not online yet: the kiosk itself has not run"

            with SimulatedKiosk(config):
                assert wait_until(lambda: verification()["ok"] is True, 20), verification()
    finally:
        collector.close()


def test_selftest_command_reports_failures(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(f'kiosk_id = "k-1"\ndata_dir = "{tmp_path / "data"}"\n[broker]\nhost = "127.0.0.1"\nport = 9\n')
    result = invoke(["kiosk", "selftest", "--config", str(config), "--press-timeout", "0.1"], input="y\n")
    assert result.exit_code == 1, result.output
    assert "FAILED   buttons" in result.output and "no press" in result.output
    assert "PASSED   leds" in result.output and "PASSED   disk" in result.output
    assert "FAILED   broker" in result.output and "cannot reach 127.0.0.1:9" in result.output
    assert "self-test FAILED" in result.output
