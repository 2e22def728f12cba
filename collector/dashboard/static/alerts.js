/* borne dashboard: the alerts within the user's scope, as the API lists them. */
"use strict";

(function () {
  const B = window.Borne;
  const RULES = { unhappy: "usagers mécontents", offline: "borne hors ligne", rollout: "déploiement bloqué" };

  /** The collector's detail, in French when it has a known form. */
  function detail(text) {
    let m = /^(\d+) unhappy of (\d+) votes over (\d+) min$/.exec(text);
    if (m) return m[1] + " votes mécontents sur " + m[2] + " en " + m[3] + " min";
    m = /^offline since (.+) UTC, ([\d.]+) h within opening hours$/.exec(text);
    if (m) return "hors ligne depuis le " + m[1] + " (UTC), " + m[2].replace(".", ",") + " h pendant les heures d'ouverture";
    return text;
  }

  B.page(async () => {
    const openOnly = document.getElementById("open-only").checked;
    const [alerts, espacesById] = await Promise.all([
      B.api("/api/v1/alerts", { open: openOnly ? "true" : "false" }), B.espaces(),
    ]);
    const tbody = document.querySelector("#alerts tbody");
    tbody.replaceChildren(...alerts.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.alert = String(a.id);
      const espace = a.espace_id ? espacesById[a.espace_id] : null;
      let where;
      if (espace) {
        where = document.createElement("a");
        where.href = B.link("", "espace", a.espace_id);
        where.textContent = espace.name;
      }
      const rule = Object.keys(RULES).find((key) => a.rule.includes(key));
      tr.append(B.cell(B.when(a.raised_at), { header: true, value: a.raised_at }),
        B.cell(rule ? RULES[rule] : a.rule, { value: a.rule }),
        B.cell(espace ? "" : (a.espace_id || "—"), { node: where, value: a.espace_id }),
        B.cell(a.kiosk_id || "—"),
        B.cell(detail(a.detail || a.subject)),
        B.cell(a.cleared_at ? B.when(a.cleared_at) : "en cours", { value: a.cleared_at }));
      return tr;
    }));
    if (!alerts.length) {
      const tr = document.createElement("tr");
      const td = B.cell(openOnly ? "Aucune alerte en cours." : "Aucune alerte.");
      td.colSpan = 6;
      tr.append(td);
      tbody.append(tr);
    }
  });
})();
