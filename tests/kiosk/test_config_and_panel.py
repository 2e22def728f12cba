"""Configuration validation and redaction; the button panel on gpiozero's mock pins."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from devtools.kiosk_sim import wait_until
from hardware.panel import ButtonPanel, FeedbackLeds
from kiosk.clock import ManualClock
from kiosk.config import ConfigInvalid, KioskConfig, load_config, redacted
from kiosk.schema import descriptions
from kiosk.service import GpioKiosk

GOOD = """
kiosk_id = "fs-1234-a"
data_dir = "{data}"
[broker]
host = "collector.example"
port = 8883
username = "fs-1234-a"
password = "hunter2-very-secret"
tls = true
[voting]
scale = 4
"""


def test_a_good_config_loads_and_its_secret_is_redacted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(GOOD.format(data=tmp_path))
    config = load_config(path)
    assert config.broker.password is not None
    assert config.broker.password.get_secret_value() == "hunter2-very-secret"
    shown = json.dumps(redacted(config))
    assert "hunter2" not in shown and "**********" in shown
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(GOOD.format(data=tmp_path))
    monkeypatch.setenv("BORNE_KIOSK_BROKER__PORT", "1884")
    assert load_config(path).broker.port == 1884


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kiosk_id = "k-1"\n[voting]\nscale = 7', "voting.scale"),
        ('kiosk_id = "K 1"', "kiosk_id"),
        ('kiosk_id = "k-1"\n[voting]\nscale = 3', "panel.buttons has 4 pins"),
        ('kiosk_id = "k-1"\n[panel]\nbuttons = [5, 5, 6, 7]', "a pin is used by two buttons"),
        ('kiosk_id = "k-1"\n[voting]\nopening_hours = { mon = "9h-12h" }', "not HH:MM-HH:MM"),
        ('kiosk_id = "k-1"\n[broker]\nprot = 1', "broker.prot"),
        ("kiosk_id = ", "not valid TOML"),
        ('kiosk_id = "k-1"\n[touch]\nwindow = [100, 100]', "touch.window: .*100x100 is not between"),
        ('kiosk_id = "k-1"\n[touch]\nwindow = [800]', "touch.window"),
    ],
)
def test_bad_configs_say_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigInvalid, match=message):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_panel_reports_answers_in_order() -> None:
    factory = MockFactory()
    pressed: list[int] = []
    with ButtonPanel([5, 6, 13, 19], pin_factory=factory) as panel:
        panel.when_pressed = pressed.append
        for pin in (19, 5, 13):
            factory.pin(pin).drive_low()
            factory.pin(pin).drive_high()
        assert pressed == [4, 1, 3]
    panel.close()  # twice is fine
    factory.close()


def test_feedback_fires_only_after_the_vote_is_on_disk(tmp_path: Path) -> None:
    factory = MockFactory()
    config = load_config(None, kiosk_id="k-1", data_dir=tmp_path)
    seen: list[int] = []

    def on_feedback(vote: object) -> None:
        # At feedback time the vote is already readable from another connection to the file.
        import sqlite3

        rows = sqlite3.connect(config.outbox_path).execute("SELECT COUNT(*) FROM votes").fetchone()[0]
        seen.append(rows)

    with GpioKiosk(config, clock=ManualClock(), pin_factory=factory, connect=False, on_feedback=on_feedback) as k:
        for _ in range(3):
            factory.pin(19).drive_low()
            factory.pin(19).drive_high()
        assert seen == [1, 2, 3]
        # The thank-you LED lights (it blinks in gpiozero's background thread).
        assert wait_until(lambda: bool(factory.pin(26).state), 5)
        assert k.outbox.depth() == 3
    factory.close()


def test_leds_close_twice() -> None:
    factory = MockFactory()
    leds = FeedbackLeds(26, 21, pin_factory=factory)
    leds.set_offline(True)
    assert factory.pin(21).state
    leds.close()
    leds.close()
    factory.close()


def test_no_secret_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "kiosk.toml"
    path.write_text(GOOD.format(data=tmp_path))
    config = load_config(path)
    logging.getLogger("test").info("configuration: %s", redacted(config))
    assert "hunter2" not in caplog.text


def test_environment_sections_json_values_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(GOOD.format(data=tmp_path))
    env = {
        "BORNE_KIOSK_BROKER__HOST": "mqtt.example.fr",
        "BORNE_KIOSK_PANEL__BUTTONS": "[4, 17, 27, 22]",
        "BORNE_KIOSK_MQTT_HOST": "the collector's, not ours",
        "OTHER": "ignored",
    }
    config = load_config(path, environ=env, ui="gpio")
    assert config.broker.host == "mqtt.example.fr" and config.broker.port == 8883  # the file's port stays
    assert config.panel.buttons == [4, 17, 27, 22]
    # A command-line override wins over the environment.
    assert load_config(path, environ={"BORNE_KIOSK_UI": "touch"}, ui="gpio").ui == "gpio"
    with pytest.raises(ConfigInvalid, match=r"broker\.prot"):
        load_config(path, environ={"BORNE_KIOSK_BROKER__PROT": "1"})
    with pytest.raises(ConfigInvalid, match="not valid JSON"):
        load_config(path, environ={"BORNE_KIOSK_PANEL__BUTTONS": "[4, 17"})


def test_every_key_has_a_description_and_a_default_but_the_id() -> None:
    keys = descriptions(KioskConfig)
    assert {"kiosk_id", "broker.password", "touch.window", "voting.opening_hours", "storage.max_votes"} <= set(keys)
    assert all(len(text) > 10 for text in keys.values()), [k for k, t in keys.items() if len(t) <= 10]
    config = KioskConfig.of(kiosk_id="k-1")  # everything else defaults
    assert config.touch.window == (800, 480) and config.broker.password is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"broker": {"port": "1884"}}, None),  # as the environment gives it
        ({"broker": {"port": "port"}}, "broker.port: should be a whole number"),
        ({"voting": {"followup": "no", "repeat_interval_s": "2.5"}}, None),
        ({"voting": {"followup": "perhaps"}}, "voting.followup: should be a boolean"),
        ({"panel": {"buttons": [5]}}, "panel.buttons: should have at least 2 items"),
        ({"voting": {"timezone": "Mars/Olympus"}}, "voting.timezone: unknown time zone"),
        ({"touch": {"rotation": 45}}, "touch.rotation: should be 0 or 90 or 180 or 270"),
        ({"kiosk_id": "k-1\n"}, "kiosk_id"),
    ],
)
def test_values_are_coerced_or_refused_with_their_path(values: dict[str, object], message: str | None) -> None:
    data = {"kiosk_id": "k-1", **values}
    if message is None:
        KioskConfig.of(**data)
        return
    with pytest.raises(ConfigInvalid, match=message):
        KioskConfig.of(**data)
