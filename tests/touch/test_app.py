"""Kivy's set-up for a kiosk, without opening a window: one input provider, never two."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kiosk.clock import ManualClock
from kiosk.config import TouchConfig
from kiosk.touch.app import input_entry
from kiosk.touch.device import TouchKiosk
from tests.touch.conftest import make_config

_LOG = logging.getLogger(__name__)


@pytest.mark.parametrize(
    ("touch", "expected"),
    [
        ({}, ("mouse", "mouse,disable_multitouch")),
        ({"input": "mtdev"}, ("touchscreen", "probesysfs,provider=mtdev")),
        ({"input": "hidinput", "input_options": "invert_y=1, rotation=90"},
         ("touchscreen", "probesysfs,provider=hidinput,param=invert_y=1,param=rotation=90")),
        ({"input": "mtdev", "device": "/dev/input/event4", "input_options": "max_position_x=800"},
         ("touchscreen", "mtdev,/dev/input/event4,max_position_x=800")),
    ],
)
def test_input_entry(touch: dict[str, str], expected: tuple[str, str]) -> None:
    assert input_entry(TouchConfig.of(**touch)) == expected


def test_a_frozen_interface_makes_the_kiosk_unhealthy(tmp_path: Path, clock: ManualClock) -> None:
    kiosk = TouchKiosk(make_config(tmp_path), clock=clock, connect=False, ui_stall_s=30)
    try:
        assert kiosk.healthy()  # not started yet: no beat expected
        kiosk.ui_beat()
        clock.advance(29)
        assert kiosk.healthy()
        clock.advance(2)
        assert kiosk.ui_stalled() and not kiosk.healthy()
        kiosk.ui_beat()
        assert kiosk.healthy()
    finally:
        kiosk.close()
