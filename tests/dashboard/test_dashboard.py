"""The dashboard in headless Chromium: sign in, drill down, and the figures shown are the API's; scopes hold."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import World, squares_geojson


def wait_ready(page: Any) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached")


def sign_in(page: Any, world: World, user: str, path: str = "/dashboard/") -> None:
    page.goto(world.url + path)
    page.wait_for_url(re.compile(r"/dashboard/connexion"))
    page.fill("#token", world.token(user))
    with page.expect_navigation():
        page.click("button[type=submit]")
    wait_ready(page)
    assert page.inner_text("#status") == "", page.inner_text("#status")


def period(page: Any) -> dict[str, str | None]:
    return {"from": page.get_attribute("body", "data-from"), "to": page.get_attribute("body", "data-to")}


def value(page: Any, selector: str) -> str | None:
    result: str | None = page.get_attribute(selector, "data-value")
    return result


def shown_number(text: str) -> float:
    """``"92,3 %"`` or ``"1 234"`` as a number."""
    cleaned = re.sub(r"[^\d,−-]", "", text).replace(",", ".").replace("−", "-")
    return float(cleaned)


def table(page: Any, selector: str) -> list[list[str | None]]:
    """Each row's cells' data-value."""
    rows: list[list[str | None]] = page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.dataset.value ?? null))")
    return rows


def check_overview(page: Any, world: World, user: str, level: str, code: str | None) -> dict[str, Any]:
    """The overview's cards and trend table equal the API's satisfaction for the same selection."""
    granularity = page.input_value("#granularity")
    api = world.api(user, "/api/v1/kpi/satisfaction", level=level, code=code, granularity=granularity,
                    **period(page))
    total = api["total"]
    assert int(value(page, '[data-kpi="votes"]') or -1) == total["votes"] > 0
    assert int(value(page, '[data-kpi="satisfied"]') or -1) == total["satisfied"]
    assert float(value(page, '[data-kpi="rate"]') or "nan") == total["rate"]
    assert shown_number(page.inner_text('[data-kpi="rate"]')) == pytest.approx(total["rate"] * 100, abs=0.051)
    assert shown_number(page.inner_text('[data-kpi="votes"]')) == total["votes"]
    assert float(value(page, '[data-kpi="target"]') or "nan") == api["target"] == 95.0
    trend = value(page, '[data-kpi="trend"]')
    assert (float(trend) if trend else None) == api["trend_pp_per_period"]
    rows = table(page, "#trend-table")
    assert [(r[0], int(r[1] or 0), int(r[2] or 0)) for r in rows] == [
        (s["period"], s["votes"], s["satisfied"]) for s in api["series"]]
    return dict(api)


def children(page: Any) -> dict[str, tuple[int, int]]:
    return {str(r[0]): (int(r[1] or 0), int(r[2] or 0)) for r in table(page, "#children")}


def test_sign_in_refuses_a_bad_token_then_opens_the_overview(page: Any, world: World) -> None:
    page.goto(world.url + "/dashboard/classement")
    page.wait_for_url(re.compile(r"/dashboard/connexion\?suite="))
    page.fill("#token", "borne_00000000_not-a-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#signin-error:not(:empty)")
    assert "pas reconnu" in page.inner_text("#signin-error")
    page.fill("#token", world.token("partenaire"))
    with page.expect_navigation():
        page.click("button[type=submit]")
    wait_ready(page)
    assert page.url.endswith("/dashboard/classement")  # back where the user was going
    assert "partenaire" in page.inner_text("#who-name")
    # The token is in this tab's sessionStorage only: not in the URL, not in a cookie.
    token = world.token("partenaire")
    assert page.evaluate("sessionStorage.getItem('borne.token')") == token
    assert token not in page.url and not page.context.cookies()
    page.click("#signout")
    page.wait_for_url(re.compile(r"/dashboard/connexion"))
    assert page.evaluate("sessionStorage.getItem('borne.token')") is None


def test_national_overview_and_drill_down_show_the_apis_figures(page: Any, world: World) -> None:
    sign_in(page, world, "partenaire")
    assert page.get_attribute("html", "lang") == "fr"
    assert page.inner_text("#zone-name") == "France entière"
    check_overview(page, world, "partenaire", "national", None)
    # One row a région, each equal to the API's figures for that région.
    regions = children(page)
    assert set(regions) == {"53", "11", "93"}
    for code, (votes, satisfied) in regions.items():
        total = world.api("partenaire", "/api/v1/kpi/satisfaction", level="region", code=code, **period(page))["total"]
        assert (votes, satisfied) == (total["votes"], total["satisfied"])

    # Down to Bretagne with the keyboard: focus its link, press Enter.
    page.focus('#children a:text("Bretagne")')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_ready(page)
    assert page.inner_text("#zone-name") == "Bretagne"
    check_overview(page, world, "partenaire", "region", "53")
    assert set(children(page)) == {"22", "29"}

    with page.expect_navigation():
        page.click('#children a:text("Côtes-d\'Armor (22)")')
    wait_ready(page)
    check_overview(page, world, "partenaire", "departement", "22")
    espaces = children(page)
    assert set(espaces) == {"fs-22a", "fs-22b"}
    for espace_id, (votes, satisfied) in espaces.items():
        total = world.api("partenaire", "/api/v1/kpi/satisfaction", level="espace", code=espace_id,
                          **period(page))["total"]
        assert (votes, satisfied) == (total["votes"], total["satisfied"])
    crumbs = page.inner_text("#crumbs")
    assert "France entière" in crumbs and "Bretagne" in crumbs

    with page.expect_navigation():
        page.click('#children a:text("France services de Guingamp")')
    wait_ready(page)
    check_overview(page, world, "partenaire", "espace", "fs-22a")
    assert page.is_hidden("#children-section")

    # Another period and step: the page asks the API again, and still shows its figures.
    page.select_option("#period", "all")
    wait_ready(page)
    page.select_option("#granularity", "week")
    wait_ready(page)
    assert period(page) == {"from": None, "to": None}
    check_overview(page, world, "partenaire", "espace", "fs-22a")
    assert "granularity=week" in page.url  # the filters are in the address, for a reload or a link


def test_ranking_heatmap_fleet_and_alerts_show_the_apis_figures(page: Any, world: World) -> None:
    sign_in(page, world, "partenaire", "/dashboard/classement")
    page.select_option("#by", "rate")
    wait_ready(page)
    api = world.api("partenaire", "/api/v1/kpi/ranking", level="national", by="rate", **period(page))
    assert [(r[0], r[1], r[3], float(r[4] or "nan")) for r in table(page, "#ranking")] == [
        (str(r["rank"]), r["espace_id"], str(r["votes"]), r["rate"]) for r in api]

    page.goto(world.url + "/dashboard/affluence")
    wait_ready(page)
    cells = world.api("partenaire", "/api/v1/kpi/heatmap", level="national", **period(page))
    shown = {(weekday, hour): int(v) for weekday, row in enumerate(table(page, "#heat-table"))
             for hour, v in enumerate(row[1:]) if v is not None}
    assert shown == {(c["weekday"], c["hour"]): c["votes"] for c in cells}
    assert page.locator("#heat-chart svg").count() == 1

    page.goto(world.url + "/dashboard/parc")
    wait_ready(page)
    kiosks = world.api("partenaire", "/api/v1/kiosks")
    assert int(value(page, '[data-kpi="online"]') or -1) == sum(k["status"] == "online" for k in kiosks) == 4
    assert int(value(page, '[data-kpi="offline"]') or -1) == sum(k["status"] == "offline" for k in kiosks) == 1
    waiting = sum(k["outbox_depth"] or 0 for k in kiosks)
    assert int(value(page, '[data-kpi="waiting"]') or -1) == waiting > 0
    rows = {r[0]: r for r in table(page, "#fleet")}
    for k in kiosks:
        assert rows[k["id"]][3] == k["status"] and rows[k["id"]][5] == str(k["outbox_depth"])
    offline = page.inner_text('#fleet tr[data-kiosk="kiosk-003"]')
    assert "hors ligne" in offline.lower() and "il y a 3\xa0h" in offline  # times from the API are UTC

    page.goto(world.url + "/dashboard/alertes")
    wait_ready(page)
    alerts = world.api("partenaire", "/api/v1/alerts", open="true")
    assert [r[0] for r in table(page, "#alerts")] == [a["raised_at"] for a in alerts] and alerts
    assert "Marseille Nord" in page.inner_text("#alerts") and "mécontents" in page.inner_text("#alerts")


def test_a_prefecture_referent_sees_only_their_departement(page: Any, world: World) -> None:
    sign_in(page, world, "prefecture-22")
    assert page.inner_text("#zone-name") == "Côtes-d'Armor (22)"
    assert "France entière" not in page.inner_text("#crumbs") and "Bretagne" not in page.inner_text("#crumbs")
    check_overview(page, world, "prefecture-22", "departement", "22")
    assert set(children(page)) == {"fs-22a", "fs-22b"}

    # Asking for more through the address gives their département back, or the API's refusal.
    page.goto(world.url + "/dashboard/?level=national")
    wait_ready(page)
    assert page.inner_text("#zone-name") == "Côtes-d'Armor (22)"
    page.goto(world.url + "/dashboard/?level=departement&code=29")
    wait_ready(page)
    assert "Hors de votre périmètre" in page.inner_text("#status")
    assert value(page, '[data-kpi="votes"]') is None

    page.goto(world.url + "/dashboard/classement")
    wait_ready(page)
    assert {r[1] for r in table(page, "#ranking")} == {"fs-22a", "fs-22b"}
    page.goto(world.url + "/dashboard/parc")
    wait_ready(page)
    assert {r[0] for r in table(page, "#fleet")} == {"kiosk-001", "kiosk-002"}
    page.goto(world.url + "/dashboard/alertes")
    wait_ready(page)
    assert "Marseille" not in page.inner_text("#alerts")
    page.goto(world.url + "/dashboard/carte")
    wait_ready(page)
    assert [r[0] for r in table(page, "#deps")] == ["22"]


def test_an_espace_agent_sees_only_their_espace(page: Any, world: World) -> None:
    sign_in(page, world, "agent-morlaix")
    assert page.inner_text("#zone-name") == "France services de Morlaix"
    check_overview(page, world, "agent-morlaix", "espace", "fs-29a")
    page.goto(world.url + "/dashboard/?level=espace&code=fs-22a")
    wait_ready(page)
    assert "Hors de votre périmètre" in page.inner_text("#status")


def test_the_map_shows_the_shipped_boundaries_without_a_setting(page: Any, world: World, no_geojson: None) -> None:
    sign_in(page, world, "partenaire", "/dashboard/carte")
    page.wait_for_selector("#map-chart svg path")
    assert page.is_hidden("#map-missing") and page.is_visible("#map-chart")
    assert "Etalab" in page.inner_text("#map-source")
    # The four départements with votes are coloured; the others drawn in the grey of « aucun vote ».
    coloured = page.eval_on_selector_all(
        "#map-chart svg path", "ps => ps.filter(p => ['#18753c', '#7fd1a0', '#fcc63a', '#ce0500']"
                               ".includes(p.getAttribute('fill'))).length")
    assert coloured >= 4
    assert len(table(page, "#deps")) == 4


def test_the_map_colours_departements_by_satisfaction(page: Any, world: World, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORNE_DEPARTEMENTS_GEOJSON", str(squares_geojson(tmp_path / "deps.geojson")))
    sign_in(page, world, "partenaire", "/dashboard/carte")
    assert page.is_hidden("#map-missing")
    page.wait_for_selector("#map-chart svg path")
    for row in table(page, "#deps"):
        total = world.api("partenaire", "/api/v1/kpi/satisfaction", level="departement", code=row[0],
                          **period(page))["total"]
        assert (int(row[1] or 0), int(row[2] or 0)) == (total["votes"], total["satisfied"])
    # The three squares are drawn, coloured (not the grey of a département without votes).
    areas = page.eval_on_selector_all(
        "#map-chart svg path", "ps => ps.filter(p => p.getAttribute('stroke') === '#666666')"
                               ".map(p => p.getAttribute('fill'))")
    assert len(areas) == 3 and all(f in ("#18753c", "#7fd1a0", "#fcc63a", "#ce0500") for f in areas), areas


def test_an_unusable_geojson_is_reported_not_crashed(page: Any, world: World, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"properties": {"nom": "x"}}]}', encoding="utf-8")
    monkeypatch.setenv("BORNE_DEPARTEMENTS_GEOJSON", str(bad))
    sign_in(page, world, "partenaire", "/dashboard/carte")
    assert page.is_visible("#map-invalid") and page.is_hidden("#map-chart")


CONTRAST = """() => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (s) => s.match(/[\\d.]+/g).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest(".chart")) continue;
    const fg = lum(parse(getComputedStyle(el).color).slice(0, 3));
    const bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) failures.push(el.tagName + " " + el.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
  }
  return failures;
}"""

LABELS = """() => [...document.querySelectorAll("select, input, button")].filter((el) => {
  if (el.type === "hidden") return false;
  const label = el.id && document.querySelector('label[for="' + el.id + '"]');
  return !(label || el.getAttribute("aria-label") || (el.tagName === "BUTTON" && el.textContent.trim()));
}).map((el) => el.outerHTML)"""


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/classement", "/dashboard/affluence",
                                  "/dashboard/carte", "/dashboard/parc", "/dashboard/alertes"])
def test_pages_are_accessible(page: Any, world: World, path: str, no_geojson: None) -> None:
    sign_in(page, world, "partenaire", path)
    assert page.get_attribute("html", "lang") == "fr"
    assert page.evaluate(CONTRAST) == []
    assert page.evaluate(LABELS) == []
    # Tables have captions and header cells; charts are described and backed by a table.
    assert page.eval_on_selector_all("table", "ts => ts.every(t => t.caption && t.tHead)")
    for chart in page.query_selector_all(".chart:not([hidden])"):
        assert chart.get_attribute("role") == "img" and "tableau" in (chart.get_attribute("aria-label") or "")
    # The keyboard reaches the skip link first, and it leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip')")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"


def _retained_releases(port: int) -> dict[str, bytes]:
    """The desired releases the broker keeps (retained), kiosk id -> payload."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[str, bytes] = {}
    subscribed: list[object] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-retained", protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, m: got.__setitem__(m.topic.split("/")[3], bytes(m.payload))
    client.on_subscribe = lambda c, u, mid, reasons, p: subscribed.append(reasons)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe("fs/v1/kiosks/+/release", 1)
        deadline = time.monotonic() + 10
        while not subscribed and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # retained messages follow the SUBACK at once
    finally:
        client.disconnect()
        client.loop_stop()
    return got


def test_national_staff_see_rollouts_and_pause_resume_or_roll_them_back(page: Any, world: World) -> None:
    from collector.db.engine import session_factory
    from collector.staff import audit

    active, paused = "r-20261129T090000-e5f6", "r-20261124T090000-c3d4"
    sign_in(page, world, "partenaire", "/dashboard/parc")
    api = {r["id"]: r for r in world.api("partenaire", "/api/v1/rollouts")}
    rows = {r[0]: r for r in table(page, "#rollouts")}
    assert [r[0] for r in table(page, "#rollouts")] == ["0.2.0", "0.1.2", "0.1.1"]  # the newest first
    assert rows["0.2.0"][2:8] == ["active", "1", "1", "3", api[active]["created_at"], "1"]
    assert api[active]["stalled"] and "failed" in api[active]["stalled"]
    row = page.inner_text(f'#rollouts tr[data-rollout="{active}"]').lower()
    assert "tout le parc" in row and "en cours" in row and "1 borne en échec" in row

    page.click(f'#rollouts tr[data-rollout="{active}"] button[data-action="pause"]')
    page.wait_for_selector(f'#rollouts tr[data-rollout="{active}"] td[data-value="paused"]')
    assert page.inner_text("#rollouts-result") == "Déploiement suspendu."
    page.click(f'#rollouts tr[data-rollout="{active}"] button[data-action="resume"]')
    page.wait_for_selector(f'#rollouts tr[data-rollout="{active}"] td[data-value="active"]')
    # Resumed: the kiosks neither updated nor failed are asked again, retained.
    retained = _retained_releases(world.broker_port)
    assert set(retained) == {"kiosk-003", "kiosk-004", "kiosk-005"}
    assert all(b'"version":"0.2.0"' in v and active.encode() in v for v in retained.values())

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f'#rollouts tr[data-rollout="{paused}"] button[data-action="rollback"]')
    page.wait_for_selector(f'#rollouts tr[data-rollout="{paused}"] td[data-value="rolled_back"]')
    assert page.locator(f'#rollouts tr[data-rollout="{paused}"] button').count() == 0
    with session_factory(world.engine)() as session:
        entries = [(e.actor, e.action, e.target) for e in audit.entries(session, limit=10)
                   if e.action.startswith("rollout.")]
    assert entries == [("partenaire", "rollout.rollback", paused), ("partenaire", "rollout.resume", active),
                       ("partenaire", "rollout.pause", active)]

    # A rollout cannot be rolled back twice (409), and a préfecture referent neither sees nor steers them.
    response = httpx.post(f"{world.url}/api/v1/rollouts/{paused}/rollback", timeout=30,
                          headers={"Authorization": f"Bearer {world.token('partenaire')}"})
    assert response.status_code == 409
    response = httpx.post(f"{world.url}/api/v1/rollouts/{active}/pause", timeout=30,
                          headers={"Authorization": f"Bearer {world.token('prefecture-22')}"})
    assert response.status_code == 403
    page.context.clear_cookies()
    page.evaluate("sessionStorage.clear()")
    sign_in(page, world, "prefecture-22", "/dashboard/parc")
    assert page.locator("#rollouts-section").is_hidden()
