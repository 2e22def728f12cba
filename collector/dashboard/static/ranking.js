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
    const rows = await B.api("/api/v1/kpi/ranking", Object.assign(
      { level: w.level, code: w.code, by, min_votes: minVotes }, B.periodParams()));
    document.getElementById("ranking-caption").textContent = "Classement des espaces : "
      + B.zoneName(z, w.level, w.code, espacesById) + " (" + rows.length + " espaces)";
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
        B.cell(r.index === null ? "—" : B.points(r.index).replace("\u00a0%", ""), { num: true, value: r.index }));
      return tr;
    }));
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = B.cell("Aucun espace n'a assez de votes sur la période.");
      td.colSpan = 7;
      tr.append(td);
      tbody.append(tr);
    }
  });
})();
