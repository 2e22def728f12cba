"""Every text the touch kiosk shows, in one catalogue: French first, then English, Spanish and German.

French typography puts a non-breaking space before « ? ! : », written ``\\u00a0`` here so that a question
mark never wraps alone onto its own line. Answer labels go from the least satisfied to the most satisfied,
as answers are numbered (:mod:`protocol.scales`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

_LOG = logging.getLogger(__name__)

DEFAULT_LANGUAGE: Final = "fr"
LANGUAGES: Final = ("fr", "en", "es", "de")

_NB = "\u00a0"

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "language": "Français",
        "question": f"Satisfait de votre démarche dans votre France services aujourd'hui{_NB}?",
        "followup": f"Votre demande a-t-elle été traitée aujourd'hui{_NB}?",
        "yes": "Oui",
        "no": "Non",
        "skip_hint": "Vous pouvez aussi ne pas répondre.",
        "thanks": f"Merci{_NB}!",
        "thanks_sub": "Votre avis nous aide à mieux vous accueillir.",
        "sleep": "La borne est en veille.",
        "sleep_next": "Réouverture {day} à {time}.",
        "sleep_today": "Réouverture aujourd'hui à {time}.",
        "sleep_tomorrow": "Réouverture demain à {time}.",
        "status_online": "en ligne",
        "status_offline": "hors ligne",
        "status_waiting": "{n} en attente",
        "languages_hint": "Langue",
        "scale.2": "Non|Oui",
        "scale.3": "Pas satisfait|Moyen|Satisfait",
        "scale.4": "Très mécontent|Mécontent|Satisfait|Très satisfait",
        "scale.5": "Très mécontent|Mécontent|Moyen|Satisfait|Très satisfait",
        "weekdays": "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche",
    },
    "en": {
        "language": "English",
        "question": "Are you satisfied with your visit to France services today?",
        "followup": "Was your request dealt with today?",
        "yes": "Yes",
        "no": "No",
        "skip_hint": "You may also leave without answering.",
        "thanks": "Thank you!",
        "thanks_sub": "Your opinion helps us serve you better.",
        "sleep": "This kiosk is asleep.",
        "sleep_next": "Opens again on {day} at {time}.",
        "sleep_today": "Opens again today at {time}.",
        "sleep_tomorrow": "Opens again tomorrow at {time}.",
        "status_online": "online",
        "status_offline": "offline",
        "status_waiting": "{n} waiting",
        "languages_hint": "Language",
        "scale.2": "No|Yes",
        "scale.3": "Not satisfied|Average|Satisfied",
        "scale.4": "Very unhappy|Unhappy|Satisfied|Very satisfied",
        "scale.5": "Very unhappy|Unhappy|Average|Satisfied|Very satisfied",
        "weekdays": "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday",
    },
    "es": {
        "language": "Español",
        "question": "¿Está satisfecho con su trámite en France services hoy?",
        "followup": "¿Se ha resuelto su solicitud hoy?",
        "yes": "Sí",
        "no": "No",
        "skip_hint": "También puede no responder.",
        "thanks": "¡Gracias!",
        "thanks_sub": "Su opinión nos ayuda a atenderle mejor.",
        "sleep": "El terminal está en reposo.",
        "sleep_next": "Vuelve a abrir el {day} a las {time}.",
        "sleep_today": "Vuelve a abrir hoy a las {time}.",
        "sleep_tomorrow": "Vuelve a abrir mañana a las {time}.",
        "status_online": "en línea",
        "status_offline": "sin conexión",
        "status_waiting": "{n} en espera",
        "languages_hint": "Idioma",
        "scale.2": "No|Sí",
        "scale.3": "No satisfecho|Regular|Satisfecho",
        "scale.4": "Muy descontento|Descontento|Satisfecho|Muy satisfecho",
        "scale.5": "Muy descontento|Descontento|Regular|Satisfecho|Muy satisfecho",
        "weekdays": "lunes|martes|miércoles|jueves|viernes|sábado|domingo",
    },
    "de": {
        "language": "Deutsch",
        "question": "Sind Sie heute mit Ihrem Anliegen bei France services zufrieden?",
        "followup": "Wurde Ihr Anliegen heute erledigt?",
        "yes": "Ja",
        "no": "Nein",
        "skip_hint": "Sie können auch ohne Antwort gehen.",
        "thanks": "Danke!",
        "thanks_sub": "Ihre Meinung hilft uns, Sie besser zu empfangen.",
        "sleep": "Das Terminal ruht.",
        "sleep_next": "Wieder geöffnet am {day} um {time}.",
        "sleep_today": "Wieder geöffnet heute um {time}.",
        "sleep_tomorrow": "Wieder geöffnet morgen um {time}.",
        "status_online": "online",
        "status_offline": "offline",
        "status_waiting": "{n} wartend",
        "languages_hint": "Sprache",
        "scale.2": "Nein|Ja",
        "scale.3": "Nicht zufrieden|Mittel|Zufrieden",
        "scale.4": "Sehr unzufrieden|Unzufrieden|Zufrieden|Sehr zufrieden",
        "scale.5": "Sehr unzufrieden|Unzufrieden|Mittel|Zufrieden|Sehr zufrieden",
        "weekdays": "Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag",
    },
}


def check_language(lang: str) -> str:
    if lang not in CATALOGUE:
        raise ValueError(f"unknown language {lang!r}: use {', '.join(LANGUAGES)}")
    return lang


def text(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang``, formatted with ``values``; French when a language lacks it."""
    entry = CATALOGUE.get(lang, {}).get(key)
    if entry is None:
        _LOG.warning("no %r text in %r; using French", key, lang)
        entry = CATALOGUE[DEFAULT_LANGUAGE][key]
    return entry.format(**values) if values else entry


def answer_labels(lang: str, scale: int) -> tuple[str, ...]:
    """The labels of answers 1..scale, least satisfied first."""
    return tuple(text(lang, f"scale.{scale}").split("|"))


def weekday(lang: str, index: int) -> str:
    return text(lang, "weekdays").split("|")[index]


def reopening(lang: str, now: datetime, opens: datetime | None) -> str:
    """« Réouverture lundi à 09:00. » for the sleep screen; empty when there is no next opening."""
    if opens is None:
        return ""
    local_now = now.astimezone(opens.tzinfo)
    clock = opens.strftime("%H:%M")
    days = (opens.date() - local_now.date()).days
    if days == 0:
        return text(lang, "sleep_today", time=clock)
    if days == 1:
        return text(lang, "sleep_tomorrow", time=clock)
    return text(lang, "sleep_next", day=weekday(lang, opens.weekday()), time=clock)
