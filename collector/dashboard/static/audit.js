/* borne dashboard: the audit log of the access list (admins): who, when, what, from where. */
"use strict";

(function () {
  const ACTIONS = { "access.add": "ajout", "access.change": "modification", "access.disable": "désactivation",
    "access.enable": "réactivation", "access.import": "import CSV", "sign-in": "connexion",
    "sign-in.refused": "connexion refusée", "sign-out": "déconnexion" };

  function detail(value) {
    if (!value) return "";
    return Object.entries(value).map(([key, v]) => key + " : " + (Array.isArray(v) ? v.join(" → ") : v)).join(", ");
  }

  Borne.page(async () => {
    const entries = await Borne.adminsOnly(Borne.api("/api/v1/staff/audit", { limit: 500 }));
    const tbody = document.querySelector("#audit-list tbody");
    tbody.replaceChildren();
    for (const entry of entries) {
      const tr = document.createElement("tr");
      tr.dataset.action = entry.action;
      tr.append(Borne.cell(Borne.when(entry.at), { value: entry.at }));
      tr.append(Borne.cell(entry.actor));
      tr.append(Borne.cell(ACTIONS[entry.action] || entry.action, { value: entry.action }));
      tr.append(Borne.cell(entry.target || "—"));
      tr.append(Borne.cell(detail(entry.detail)));
      tr.append(Borne.cell(entry.address || "—"));
      tbody.append(tr);
    }
  });
})();
