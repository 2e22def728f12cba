"""Kivy's set-up for a kiosk, without opening a window: one input provider, never two."""

from __future__ import annotations

import logging

import pytest

from kiosk.config import TouchConfig
from kiosk.touch.app import input_entry

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
    assert input_entry(TouchConfig(**touch)) == expected
