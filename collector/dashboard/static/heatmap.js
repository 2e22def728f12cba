/* borne dashboard: votes (or satisfaction) per weekday and hour, from the API's heatmap. */
"use strict";

(function () {
  const B = window.Borne;
  const HOURS = Array.from({ length: 24 }, (_, h) => h);

  B.page(async (session) => {
    const w = B.where(session);
    await B.crumbs(session, w, "affluence");
    const [z, espacesById] = await Promise.all([B.zones(), B.espaces()]);
    const measure = document.getElementById("measure").value;
    const cells = await B.api("/api/v1/kpi/heatmap", Object.assign({ level: w.level, code: w.code },
      B.periodParams()));
    const byKey = new Map(cells.map((c) => [c.weekday + ":" + c.hour, c]));
    const valueOf = (c) => (measure === "rate" ? (c.rate === null ? null : Math.round(c.rate * 1000) / 10) : c.votes);
    const data = cells.filter((c) => valueOf(c) !== null).map((c) => [c.hour, c.weekday, valueOf(c)]);
    const values = data.map((d) => d[2]);
    const label = measure === "rate" ? "Taux de satisfaction (%)" : "Votes";
    B.chart(document.getElementById("heat-chart"), {
      grid: { left: 90, right: 24, top: 16, bottom: 100 },
      tooltip: { formatter: (p) => B.WEEKDAYS[p.value[1]] + " " + p.value[0] + " h : "
        + (measure === "rate" ? B.points(p.value[2]) : B.int(p.value[2]) + " votes") },
      xAxis: { type: "category", data: HOURS.map((h) => h + " h"), axisLabel: { color: B.COLORS.text } },
      yAxis: { type: "category", data: B.WEEKDAYS, inverse: true, axisLabel: { color: B.COLORS.text } },
      visualMap: { min: values.length ? Math.min(...values) : 0, max: values.length ? Math.max(...values) : 1,
        calculable: true, orient: "horizontal", left: "center", bottom: 8, text: ["plus", "moins"],
        inRange: { color: ["#e3e3fd", "#6a6af4", "#000091"] }, textStyle: { color: B.COLORS.text } },
      series: [{ name: label, type: "heatmap", data, itemStyle: { borderColor: "#fff", borderWidth: 1 } }],
    });
    document.getElementById("heat-caption").textContent = label + " par jour de la semaine et par heure : "
      + B.zoneName(z, w.level, w.code, espacesById);
    const head = document.getElementById("heat-head");
    head.replaceChildren(head.firstElementChild, ...HOURS.map((h) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.className = "num";
      th.textContent = h + " h";
      return th;
    }));
    const tbody = document.querySelector("#heat-table tbody");
    tbody.replaceChildren(...B.WEEKDAYS.map((name, weekday) => {
      const tr = document.createElement("tr");
      tr.append(B.cell(name, { header: true }));
      for (const hour of HOURS) {
        const c = byKey.get(weekday + ":" + hour);
        const shown = c ? (measure === "rate" ? B.pct(c.rate) : B.int(c.votes)) : "";
        tr.append(B.cell(shown, { num: true, value: c ? (measure === "rate" ? c.rate : c.votes) : null }));
      }
      return tr;
    }));
  });
})();
