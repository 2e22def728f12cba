/* borne dashboard: départements coloured by satisfaction, when the collector has their boundaries. */
"use strict";

(function () {
  const B = window.Borne;
  let registered = false;

  async function boundaries() {
    if (registered) return true;
    const response = await fetch(B.PREFIX + "/api/departements.geojson", { cache: "no-store" });
    if (!response.ok) return false;
    const geo = await response.json();
    // Metropolitan France only on the map (overseas ones would shrink it to a dot); all of them in the table.
    geo.features = geo.features.filter((f) => f.properties.insee_dep.length === 2);
    window.echarts.registerMap("departements", geo);
    registered = true;
    return true;
  }

  function colour(rate, target) {
    if (rate === null) return null;
    const pct = rate * 100;
    if (pct >= target) return "#18753c";
    if (pct >= target - 5) return "#7fd1a0";
    if (pct >= target - 15) return "#fcc63a";
    return "#ce0500";
  }

  B.page(async (session) => {
    const w = B.where(session);
    await B.crumbs(session, w, "carte");
    const state = document.getElementById("map-state").dataset.state;
    document.getElementById("map-missing").hidden = state !== "missing";
    document.getElementById("map-invalid").hidden = state !== "invalid";
    const params = B.periodParams();
    const [z, result, parts] = await Promise.all([
      B.zones(),
      B.api("/api/v1/kpi/satisfaction", Object.assign({ level: w.level, code: w.code, granularity: "year" }, params)),
      B.api("/api/v1/kpi/breakdown", Object.assign({ level: w.level, code: w.code, by: "departement" }, params)),
    ]);
    const target = result.target;
    const rows = parts.sort((a, b) => B.compareDepartements(a.code, b.code));
    const tbody = document.querySelector("#deps tbody");
    tbody.replaceChildren(...rows.map((g) => {
      const tr = document.createElement("tr");
      tr.dataset.code = g.code;
      const a = document.createElement("a");
      a.href = B.link("", "departement", g.code);
      a.textContent = B.zoneName(z, "departement", g.code);
      tr.append(B.cell("", { header: true, node: a, value: g.code }),
        B.cell(B.int(g.votes), { num: true, value: g.votes }),
        B.cell(B.int(g.satisfied), { num: true, value: g.satisfied }),
        B.cell(B.pct(g.rate), { num: true, value: g.rate }),
        B.cell("", { node: B.attainment(g.rate, target) }));
      return tr;
    }));
    if (state !== "ready" || !(await boundaries())) return;
    const el = document.getElementById("map-chart");
    el.hidden = false;
    document.getElementById("map-overseas").hidden = false;
    const t = B.points(target);
    B.chart(el, {
      tooltip: { formatter: (p) => B.zoneName(z, "departement", p.name) + " : "
        + (p.data ? B.pct(p.data.rate) + " (" + B.int(p.data.votes) + " votes)" : "aucun vote") },
      visualMap: { type: "piecewise", left: 8, bottom: 8, dimension: 0, itemGap: 8,
        textStyle: { color: B.COLORS.text, fontSize: 14 },
        pieces: [
          { min: target, label: "objectif atteint (≥ " + t + ")", color: "#18753c" },
          { min: target - 5, max: target, label: "à moins de 5 points", color: "#7fd1a0" },
          { min: target - 15, max: target - 5, label: "de 5 à 15 points sous l'objectif", color: "#fcc63a" },
          { max: target - 15, label: "plus de 15 points sous l'objectif", color: "#ce0500" },
        ] },
      series: [{
        name: "Taux de satisfaction", type: "map", map: "departements", nameProperty: "insee_dep", roam: false,
        left: 16, right: 16, top: 16, bottom: 130,
        itemStyle: { areaColor: "#eeeeee", borderColor: "#666666", borderWidth: 0.5 },
        emphasis: { label: { show: false }, itemStyle: { areaColor: "#6a6af4" } },
        select: { disabled: true },
        data: rows.filter((g) => g.rate !== null).map((g) => ({ name: g.code, value: Math.round(g.rate * 1000) / 10,
          rate: g.rate, votes: g.votes, itemStyle: { areaColor: colour(g.rate, target) } })),
      }],
    }).off("click");
    window.echarts.getInstanceByDom(el).on("click", (p) => {
      if (p.data) window.location.assign(B.link("", "departement", p.name));
    });
  });
})();
