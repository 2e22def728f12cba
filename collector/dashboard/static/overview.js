/* borne dashboard: the overview of a zone (France, a région, a département or an espace) and its drill-down. */
"use strict";

(function () {
  const B = window.Borne;
  const CHILD = { national: "region", region: "departement", departement: "espace" };
  const CHILD_TITLE = { region: "Par région", departement: "Par département", espace: "Par espace" };
  const PER = { day: "par jour", week: "par semaine", month: "par mois" };

  function setKpi(name, text, value) {
    const el = document.querySelector('[data-kpi="' + name + '"]');
    el.textContent = text;
    if (value !== undefined) el.dataset.value = value === null ? "" : String(value);
  }

  function showTotals(result) {
    const total = result.total;
    setKpi("rate", B.pct(total.rate), total.rate);
    setKpi("interval", total.wilson_low === null ? "" : "intervalle à 95 % : " + B.interval(total.wilson_low, total.wilson_high));
    setKpi("votes", B.int(total.votes), total.votes);
    setKpi("satisfied", "dont " + B.int(total.satisfied) + " satisfaits", total.satisfied);
    setKpi("target", B.points(result.target), result.target);
    const attained = document.querySelector('[data-kpi="attained"]');
    if (total.rate === null) {
      attained.textContent = "aucun vote";
    } else {
      const gap = total.rate * 100 - result.target;
      attained.replaceChildren(B.attainment(total.rate, result.target),
        document.createTextNode(" (écart " + B.signed(gap) + ")"));
    }
    attained.dataset.value = total.attained === null ? "" : String(total.attained);
    setKpi("trend", B.signed(result.trend_pp_per_period), result.trend_pp_per_period);
    setKpi("trend-unit", result.trend_pp_per_period === null ? "pas assez de périodes"
      : PER[result.granularity] || "par période");
    setKpi("resolution", B.pct(total.resolution_rate), total.resolution_rate);
    setKpi("followup", B.int(total.followup_yes + total.followup_no) + " réponses à la question de suivi");
  }

  function showSeries(result) {
    const rows = result.series;
    const label = (r) => B.period(r.period, result.granularity) + (r.complete === false ? " (en cours)" : "");
    const labels = rows.map(label);
    const rates = rows.map((r) => (r.rate === null ? null : Math.round(r.rate * 1000) / 10));
    const lowest = Math.min(result.target, ...rates.filter((r) => r !== null));
    B.chart(document.getElementById("trend-chart"), {
      grid: { left: 56, right: 64, top: 40, bottom: 40 },
      legend: { top: 4, data: ["Taux de satisfaction", "Votes"] },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: labels, axisLabel: { color: B.COLORS.text } },
      yAxis: [
        { type: "value", name: "%", min: Math.max(0, Math.floor((lowest - 5) / 5) * 5), max: 100,
          axisLabel: { color: B.COLORS.text } },
        { type: "value", name: "votes", splitLine: { show: false },
          axisLabel: { color: B.COLORS.text, formatter: (v) => B.int(v) } },
      ],
      series: [
        { name: "Votes", type: "bar", yAxisIndex: 1, data: rows.map((r) => r.votes), itemStyle: { color: "#c5c5fe" },
          barMaxWidth: 28 },
        { name: "Taux de satisfaction", type: "line", data: rates, itemStyle: { color: B.COLORS.blue },
          lineStyle: { width: 3 }, symbolSize: 7, connectNulls: false,
          markLine: { symbol: "none", silent: true, lineStyle: { color: B.COLORS.red, type: "dashed", width: 2 },
            label: { formatter: "objectif " + B.points(result.target), color: B.COLORS.red,
              position: "insideStartTop" },
            data: [{ yAxis: result.target }] } },
      ],
    });
    const partial = rows.filter((r) => r.complete === false).length;
    const note = document.getElementById("partial-note");
    note.hidden = partial === 0;
    note.textContent = partial === 0 ? "" : "Une période marquée « en cours » n'est pas finie (ou est coupée par la"
      + " fin de la période choisie) : elle est montrée, mais la tendance ne la compte pas.";
    const tbody = document.querySelector("#trend-table tbody");
    tbody.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      if (r.complete === false) tr.dataset.complete = "false";
      tr.append(B.cell(label(r), { header: true, value: r.period }),
        B.cell(B.int(r.votes), { num: true, value: r.votes }),
        B.cell(B.int(r.satisfied), { num: true, value: r.satisfied }),
        B.cell(B.pct(r.rate), { num: true, value: r.rate }),
        B.cell(B.interval(r.wilson_low, r.wilson_high), { num: true }));
      return tr;
    }));
  }

  async function showChildren(w, params, target) {
    const section = document.getElementById("children-section");
    const childLevel = CHILD[w.level];
    if (!childLevel) { section.hidden = true; return; }
    section.hidden = false;
    const [parts, z, espacesById] = await Promise.all([
      B.api("/api/v1/kpi/breakdown", Object.assign({ level: w.level, code: w.code, by: childLevel }, params)),
      B.zones(), B.espaces(),
    ]);
    const rows = parts.map((g) => Object.assign(g, { name: B.zoneName(z, childLevel, g.code, espacesById) }));
    rows.sort((a, b) => a.name.localeCompare(b.name, "fr"));
    document.getElementById("children-h").textContent = CHILD_TITLE[childLevel];
    document.getElementById("children-caption").textContent = CHILD_TITLE[childLevel]
      + " : votes et taux de satisfaction (zones sans vote absentes)";
    document.getElementById("children-zone").textContent = childLevel === "espace" ? "Espace"
      : childLevel === "region" ? "Région" : "Département";
    const tbody = document.querySelector("#children tbody");
    tbody.replaceChildren(...rows.map((g) => {
      const tr = document.createElement("tr");
      tr.dataset.code = g.code;
      const a = document.createElement("a");
      a.href = B.link("", childLevel, g.code);
      a.textContent = g.name;
      tr.append(B.cell("", { header: true, node: a, value: g.code }),
        B.cell(B.int(g.votes), { num: true, value: g.votes }),
        B.cell(B.int(g.satisfied), { num: true, value: g.satisfied }),
        B.cell(B.pct(g.rate), { num: true, value: g.rate }),
        B.cell("", { node: B.attainment(g.rate, target) }));
      return tr;
    }));
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = B.cell("Aucun vote sur la période.");
      td.colSpan = 5;
      tr.append(td);
      tbody.append(tr);
    }
  }

  B.page(async (session) => {
    const w = B.where(session);
    await B.crumbs(session, w, "");
    const [z, espacesById] = await Promise.all([B.zones(), B.espaces()]);
    const name = B.zoneName(z, w.level, w.code, espacesById);
    document.getElementById("zone-name").textContent = name;
    document.title = name + " · borne, tableau de bord";
    const params = B.periodParams();
    const granularity = document.getElementById("granularity").value;
    const result = await B.api("/api/v1/kpi/satisfaction",
      Object.assign({ level: w.level, code: w.code, granularity }, params));
    showTotals(result);
    showSeries(result);
    await showChildren(w, params, result.target);
  });
})();
