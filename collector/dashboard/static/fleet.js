/* borne dashboard: the kiosks' health (online or offline, last seen, votes waiting on each), from the API. */
"use strict";

(function () {
  const B = window.Borne;
  const STATES = { online: "en ligne", offline: "hors ligne", unknown: "jamais vue" };

  B.page(async () => {
    const [kiosks, z, espacesById] = await Promise.all([
      B.api("/api/v1/kiosks"), B.zones(), B.espaces(),
    ]);
    // Only the kiosks of espaces the user may read (the espaces list is scoped by the collector).
    const mine = kiosks.filter((k) => espacesById[k.espace_id] && !k.revoked);
    const count = (s) => mine.filter((k) => k.status === s).length;
    const waiting = mine.reduce((sum, k) => sum + (k.outbox_depth || 0), 0);
    for (const [name, value] of [["online", count("online")], ["offline", count("offline")],
      ["unknown", mine.length - count("online") - count("offline")], ["waiting", waiting]]) {
      const el = document.querySelector('[data-kpi="' + name + '"]');
      el.textContent = B.int(value);
      el.dataset.value = String(value);
    }
    const wanted = document.getElementById("state").value;
    const shown = mine.filter((k) => !wanted || (wanted === "unknown"
      ? k.status !== "online" && k.status !== "offline" : k.status === wanted));
    shown.sort((a, b) => (a.last_seen || "").localeCompare(b.last_seen || "") || a.id.localeCompare(b.id));
    const tbody = document.querySelector("#fleet tbody");
    tbody.replaceChildren(...shown.map((k) => {
      const espace = espacesById[k.espace_id];
      const dep = z.departements[espace.departement];
      const tr = document.createElement("tr");
      tr.dataset.kiosk = k.id;
      const badge = document.createElement("span");
      const state = STATES[k.status] ? k.status : "unknown";
      badge.className = "fr-badge fr-badge--sm fr-badge--no-icon badge " + state
        + { online: " fr-badge--success", offline: " fr-badge--error", unknown: "" }[state];
      badge.textContent = STATES[state];
      const a = document.createElement("a");
      a.href = B.link("", "espace", k.espace_id);
      a.textContent = espace.name;
      tr.append(B.cell(k.id, { header: true, value: k.id, cls: "nowrap" }), B.cell("", { node: a, value: k.espace_id }),
        B.cell((dep ? dep.name : "") + " (" + espace.departement + ")"),
        B.cell("", { node: badge, value: k.status, cls: "nowrap" }),
        B.cell(B.ago(k.last_seen), { value: k.last_seen, cls: "nowrap" }),
        B.cell(k.outbox_depth === null ? "—" : B.int(k.outbox_depth), { num: true, value: k.outbox_depth }),
        B.cell(k.version || "—"), B.cell(k.release || "usine"), B.cell(k.release_desired || "—"),
        B.cell(k.update_result || "—"));
      return tr;
    }));
    if (!shown.length) {
      const tr = document.createElement("tr");
      const td = B.cell("Aucune borne.");
      td.colSpan = 10;
      tr.append(td);
      tbody.append(tr);
    }
  });
})();
