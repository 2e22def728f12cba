/* borne dashboard: the ranking of the espaces of a zone, as the API ranks them. */
"use strict";

(function () {
  const B = window.Borne;

  B.page(async (session) => {
    const w = B.where(session);
    await B.crumbs(session, w, "classement");
    const [z, espacesById] = await Promise.all([B.zones(), B.espaces()]);
    const by = document.getElementById("by").value;
    const minVotes = Math.max(1, Number(document.getElementById("min-votes").value) || 1);
    const params = B.periodParams();
    const [rows, zone] = await Promise.all([
      B.api("/api/v1/kpi/ranking", Object.assign({ level: w.level, code: w.code, by, min_votes: minVotes }, params)),
      B.api("/api/v1/kpi/satisfaction", Object.assign({ level: w.level, code: w.code, granularity: "year" }, params)),
    ]);
    const target = zone.target;
    const targetText = document.getElementById("ranking-target");
    targetText.textContent = "Objectif : " + B.points(target) + " de satisfaits (IND-246) ; la dernière colonne dit"
      + " si chaque espace l'atteint.";
    targetText.dataset.value = String(target);
    document.getElementById("ranking-caption").textContent = "Classement des espaces : "
      + B.zoneName(z, w.level, w.code, espacesById) + " (" + B.plural(rows.length, "espace") + ")";
    const tbody = document.querySelector("#ranking tbody");
    tbody.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.espace = r.espace_id;
      const a = document.createElement("a");
      a.href = B.link("", "espace", r.espace_id);
      a.textContent = r.name;
      const dep = z.departements[r.departement];
      tr.append(B.cell(String(r.rank), { num: true, value: r.rank }),
        B.cell("", { header: true, node: a, value: r.espace_id }),
        B.cell((dep ? dep.name : "") + " (" + r.departement + ")", { value: r.departement }),
        B.cell(B.int(r.votes), { num: true, value: r.votes }),
        B.cell(B.pct(r.rate), { num: true, value: r.rate }),
        B.cell(B.interval(r.wilson_low, r.wilson_high), { num: true, value: r.wilson_low }),
        B.cell(r.index === null ? "—" : B.points(r.index).replace("\u00a0%", ""), { num: true, value: r.index }),
        B.cell("", { node: B.attainment(r.rate, target) }));
      return tr;
    }));
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = B.cell("Aucun espace n'a assez de votes sur la période.");
      td.colSpan = 8;
      tr.append(td);
      tbody.append(tr);
    }
  });
})();
