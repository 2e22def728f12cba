"""What the bundle sets for a Raspberry Pi: the journal in RAM, the pin driver, kmsdrm for the touchscreen.
(In the emulated Pi, tests/pi/ checks the journal is volatile and the outbox on the data partition.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.bundle import BundleOptions, write_bundle
from provisioning.pi import BACKLIGHT_RULE, JOURNALD_DROPIN, KIOSK_DROPIN
from tests.provisioning.conftest import fake_wheel
from tests.provisioning.test_bundle import _credentials


def _files(tmp_path: Path, options: BundleOptions) -> dict[str, str]:
    if options.wheelhouse is None and options.wheel is None:
        options.wheel = fake_wheel(tmp_path / "dist")  # what the first boot installs must be pinned
    write_bundle(tmp_path, _credentials(), options)
    data: dict[str, Any] = yaml.safe_load((tmp_path / "user-data").read_text())
    return {f["path"]: f["content"] for f in data["write_files"]}


@pytest.mark.parametrize(("options", "environment"), [
    (BundleOptions(), None),
    (BundleOptions(pin_factory="lgpio"), ["GPIOZERO_PIN_FACTORY=lgpio"]),
    (BundleOptions(pin_factory="rpigpio"), ["GPIOZERO_PIN_FACTORY=rpigpio"]),
    (BundleOptions(ui="touch"), ["SDL_VIDEODRIVER=kmsdrm"]),
])
def test_pi_dropins(options: BundleOptions, environment: list[str] | None, tmp_path: Path) -> None:
    files = _files(tmp_path, options)
    assert "Storage=volatile" in files[JOURNALD_DROPIN], "the journal spares the SD card"
    if environment is None:
        assert KIOSK_DROPIN not in files
        return
    assert [line.split("=", 1)[1] for line in files[KIOSK_DROPIN].splitlines()
            if line.startswith("Environment=")] == environment


def test_an_unknown_pin_factory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pin factory"):
        _files(tmp_path, BundleOptions(pin_factory="wiringpi"))


def test_a_touch_kiosk_may_switch_its_backlight(tmp_path: Path) -> None:
    """The kiosk's user is in the video group, which the udev rule lets write the backlight's bl_power."""
    rule = _files(tmp_path / "touch", BundleOptions(ui="touch"))[BACKLIGHT_RULE]
    assert 'SUBSYSTEM=="backlight"' in rule and "chgrp video /sys%p/bl_power" in rule and "chmod g+w" in rule
    assert BACKLIGHT_RULE not in _files(tmp_path / "gpio", BundleOptions(ui="gpio"))
    data: dict[str, Any] = yaml.safe_load((tmp_path / "touch" / "user-data").read_text())
    assert "video" in next(u for u in data["users"] if isinstance(u, dict) and u["name"] == "borne")["groups"]
