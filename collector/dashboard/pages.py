"""The dashboard's pages: one layout (the DSFR's header, navigation and footer) around one body template a page.

Templates are plain HTML with ``$name`` placeholders (:class:`string.Template`): the pages hold no data, so no
template engine is needed, and nothing a user typed is ever put into them.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

_LOG = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
ECHARTS = ("vendor/echarts/echarts.min.js", "vendor/echarts/langFR.js")


@dataclass(frozen=True)
class Page:
    slug: str  # the path under the dashboard's prefix ("" for the overview)
    title: str
    template: str
    scripts: tuple[str, ...] = ()
    charts: bool = False
    in_nav: bool = True
    signed_in: bool = True  # the page needs a token (its script sends to the sign-in page without one)
    export: str | None = None  # the view of /dashboard/api/export/ that gives the page's table as a file


PAGES: dict[str, Page] = {
    page.slug: page
    for page in (
        Page("", "Vue d'ensemble", "overview.html", ("overview.js",), charts=True, export="satisfaction"),
        Page("classement", "Classement des espaces", "ranking.html", ("ranking.js",), export="classement"),
        Page("affluence", "Heures et jours", "heatmap.html", ("heatmap.js",), charts=True, export="affluence"),
        Page("carte", "Carte des départements", "map.html", ("map.js",), charts=True, export="carte"),
        Page("parc", "Parc de bornes", "fleet.html", ("fleet.js",), export="parc"),
        Page("alertes", "Alertes", "alerts.html", ("alerts.js",), export="alertes"),
        Page("connexion", "Connexion", "signin.html", ("signin.js",), in_nav=False, signed_in=False),
    )
}

NAV_LABELS = {"": "Vue d'ensemble", "classement": "Classement", "affluence": "Heures et jours",
              "carte": "Carte", "parc": "Parc de bornes", "alertes": "Alertes"}


#: Pieces several pages share, each page placing them where it wants (``$crumbs``, ``$period_field``).
PARTIALS = {
    "crumbs": ('    <nav role="navigation" class="fr-breadcrumb crumbs" aria-label="vous êtes ici :">\n'
               '      <button type="button" class="fr-breadcrumb__button" aria-expanded="false"'
               ' aria-controls="breadcrumb">Voir le fil d\'Ariane</button>\n'
               '      <div class="fr-collapse" id="breadcrumb">'
               '<ol class="fr-breadcrumb__list" id="crumbs"></ol></div>\n'
               '    </nav>'),
    "period_field": (TEMPLATES / "_period.html").read_text(encoding="utf-8"),
}


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _exports(page: Page) -> str:
    """The page's download buttons (the table behind the view), or nothing."""
    if page.export is None:
        return ""
    buttons = "".join(
        f'<li><button type="button" class="fr-btn fr-btn--secondary fr-btn--sm" data-export="{page.export}"'
        f' data-format="{fmt}">Télécharger le tableau ({label})</button></li>'
        for fmt, label in (("csv", "CSV pour tableur"), ("xlsx", "Excel XLSX")))
    return f'<ul class="fr-btns-group fr-btns-group--inline-sm fr-btns-group--sm exports">{buttons}</ul>'


def _nav(current: Page, prefix: str) -> str:
    items = []
    for page in PAGES.values():
        if not page.in_nav:
            continue
        here = ' aria-current="page"' if page.slug == current.slug else ""
        label = html.escape(NAV_LABELS[page.slug])
        items.append(f'<li class="fr-nav__item">'
                     f'<a class="fr-nav__link" href="{prefix}/{page.slug}"{here}>{label}</a></li>')
    return "\n        ".join(items)


def render(page: Page, prefix: str, extra: dict[str, str] | None = None) -> str:
    """The page's HTML: the layout around its body."""
    static = f"{prefix}/static"
    scripts = [*ECHARTS] if page.charts else []
    scripts += ["app.js", *page.scripts]
    values = {"prefix": prefix, "static": static, **PARTIALS, "exports": _exports(page), **(extra or {})}
    template = _template(page.template)
    body = template.substitute(values)
    # A page that places its download buttons itself ($exports: under its table, above another section).
    placed = "$exports" in template.template
    return _template("layout.html").substitute(
        values,
        exports="" if placed else values["exports"],
        title=html.escape(page.title),
        page=page.slug or "overview",
        signed_in="true" if page.signed_in else "false",
        nav=_nav(page, prefix) if page.signed_in else "",
        body=body,
        scripts="\n  ".join(f'<script src="{static}/{s}" defer></script>' for s in scripts),
    )
