"""The backlight's switch: written only on a change, never raising, and left lit when the kiosk stops."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kiosk.touch.backlight import Backlight


def _panel(root: Path, name: str = "10-0045") -> Path:
    control = root / name / "bl_power"
    control.parent.mkdir(parents=True)
    control.write_text("0")
    return control


def test_off_asleep_on_awake_and_lit_when_stopped(tmp_path: Path) -> None:
    panels = [_panel(tmp_path, "10-0045"), _panel(tmp_path, "11-0045")]
    light = Backlight(tmp_path)
    light.set(False)
    assert [p.read_text() for p in panels] == ["4", "4"]
    light.set(True)
    assert [p.read_text() for p in panels] == ["0", "0"]
    light.set(False)
    light.close()
    assert [p.read_text() for p in panels] == ["0", "0"]


def test_only_a_change_is_written(tmp_path: Path) -> None:
    panel = _panel(tmp_path)
    light = Backlight(tmp_path)
    light.set(True)
    panel.write_text("something else")  # someone else's, not ours to fight every tick
    light.set(True)
    assert panel.read_text() == "something else"


def test_disabled_touches_nothing(tmp_path: Path) -> None:
    panel = _panel(tmp_path)
    Backlight(tmp_path, enabled=False).set(False)
    assert panel.read_text() == "0"


def test_no_backlight_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    light = Backlight(tmp_path / "none")
    with caplog.at_level(logging.INFO, logger="kiosk.touch.backlight"):
        for lit in (False, True, False):
            light.set(lit)
    assert sum("no backlight" in r.message for r in caplog.records) == 1


def test_a_write_refused_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    control = tmp_path / "10-0045" / "bl_power"
    control.parent.mkdir(parents=True)
    control.symlink_to("/proc/version")  # a file nobody may write, root included
    with caplog.at_level(logging.WARNING, logger="kiosk.touch.backlight"):
        Backlight(tmp_path).set(False)
    assert "video group" in caplog.text


def test_a_control_that_is_a_folder_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "odd" / "bl_power").mkdir(parents=True)  # not a file: skipped
    panel = _panel(tmp_path)
    with caplog.at_level(logging.WARNING, logger="kiosk.touch.backlight"):
        Backlight(tmp_path).set(False)
    assert panel.read_text() == "4"
