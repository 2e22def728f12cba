"""The catalogue: every language has every text, every scale its labels; colours reach 4.5:1."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kiosk.touch import i18n, theme

_LOG = logging.getLogger(__name__)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_language_has_every_text(lang: str) -> None:
    assert set(i18n.CATALOGUE[lang]) == set(i18n.CATALOGUE["fr"])
    assert all(v.strip() for v in i18n.CATALOGUE[lang].values())


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_labels_per_scale(lang: str, scale: int) -> None:
    labels = i18n.answer_labels(lang, scale)
    assert len(labels) == scale
    assert len(set(labels)) == scale


def test_french_is_the_default_and_oui_non_is_scale_2() -> None:
    assert i18n.DEFAULT_LANGUAGE == "fr"
    assert i18n.answer_labels("fr", 2) == ("Non", "Oui")
    assert i18n.text("fr", "question").startswith("Satisfait de votre démarche")
    assert i18n.text("fr", "question").endswith("\u00a0?")


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        i18n.check_language("xx")


@pytest.mark.parametrize(
    ("lang", "opens", "expected"),
    [
        ("fr", datetime(2026, 1, 5, 13, 30), "Réouverture aujourd'hui à 13:30."),
        ("fr", datetime(2026, 1, 6, 9, 0), "Réouverture demain à 09:00."),
        ("fr", datetime(2026, 1, 9, 9, 0), "Réouverture vendredi à 09:00."),
        ("en", datetime(2026, 1, 9, 9, 0), "Opens again on Friday at 09:00."),
    ],
)
def test_reopening(lang: str, opens: datetime, expected: str) -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 1, 5, 12, 30, tzinfo=paris)
    assert i18n.reopening(lang, now, opens.replace(tzinfo=paris)) == expected


@pytest.mark.parametrize("name", sorted(theme.TEXT_PAIRS))
def test_text_contrast(name: str) -> None:
    background, ink = theme.TEXT_PAIRS[name]
    assert theme.contrast_ratio(background, ink) >= theme.MIN_CONTRAST


def test_contrast_ratio_reference_values() -> None:
    assert theme.contrast_ratio((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert theme.contrast_ratio(theme.hex_rgb("#767676"), (1, 1, 1)) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_faces_differ_by_shape_not_only_colour(scale: int) -> None:
    moods = [theme.mood(scale, a) for a in range(1, scale + 1)]
    assert moods[0] == -1.0 and moods[-1] == 1.0
    assert len(set(moods)) == scale
