/* borne dashboard: the kiosks' health (online or offline, last seen, votes waiting on each), from the API; for
   staff at national level, the software rollouts, which they may pause, resume or roll back (audited). */
"use strict";

(function () {
  const B = window.Borne;
  const STATES = { online: "en ligne", offline: "hors ligne", unknown: "jamais vue" };
  const ROLLOUT_STATES = { active: "en cours", paused: "suspendu", rolled_back: "annulé" };
  const ROLLOUT_BADGES = { active: "fr-badge--info", paused: "fr-badge--warning", rolled_back: "" };
  const OPERATORS = ["admin", "national"];
  const ACTIONS = {
    pause: { label: "Suspendre", when: "active", done: "Déploiement suspendu." },
    resume: { label: "Reprendre", when: "paused", done: "Déploiement repris." },
    rollback: { label: "Revenir en arrière", when: "any", done: "Retour en arrière demandé." },
  };

  function stage(r) {
    if (r.stage === "all") return "tout le parc";
    if (r.stage === "percent") return String(r.target).replace(".", ",") + " % du parc";
    const names = { kiosk: "borne", espace: "espace", departement: "département" };
    return (names[r.stage] || r.stage) + " " + (r.target || "");
  }

  function actionButton(r, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "fr-btn fr-btn--sm fr-btn--tertiary fr-mr-1w fr-mb-1w";
    b.textContent = ACTIONS[action].label;
    b.dataset.action = action;
    b.setAttribute("aria-label", ACTIONS[action].label + " : déploiement de la version " + r.version
      + " (" + stage(r) + ")");
    b.addEventListener("click", async () => {
      if (action === "rollback" && !window.confirm("Revenir à la version précédente sur les "
        + B.int(r.kiosks) + " bornes de ce déploiement ?")) return;
      const result = document.getElementById("rollouts-result");
      b.disabled = true;
      try {
        await B.send("POST", "/api/v1/rollouts/" + encodeURIComponent(r.id) + "/" + action);
        result.textContent = ACTIONS[action].done;
        await rollouts();
      } catch (error) {
        result.textContent = error.message;
        b.disabled = false;
      }
    });
    return b;
  }

  async function rollouts() {
    const list = await B.api("/api/v1/rollouts");
    const tbody = document.querySelector("#rollouts tbody");
    tbody.replaceChildren(...list.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.rollout = r.id;
      const badge = document.createElement("span");
      badge.className = "fr-badge fr-badge--sm fr-badge--no-icon " + (ROLLOUT_BADGES[r.state] || "");
      badge.textContent = ROLLOUT_STATES[r.state] || r.state;
      const stalled = document.createElement("span");
      stalled.textContent = "non";
      if (r.stalled) {
        // The collector's rule (collector/fleet.py, stalled): failed kiosks, or kiosks waiting too long.
        stalled.className = "fr-badge fr-badge--sm fr-badge--error fr-badge--no-icon";
        stalled.textContent = r.failed ? "oui : " + B.plural(r.failed, "borne") + " en échec"
          : "oui : " + B.plural(r.waiting, "borne") + " en attente depuis plus de 2 h";
      }
      const actions = document.createElement("div");
      for (const action of Object.keys(ACTIONS)) {
        const when = ACTIONS[action].when;
        if (when === r.state || (when === "any" && r.state !== "rolled_back")) actions.append(actionButton(r, action));
      }
      if (!actions.childElementCount) actions.textContent = "—";
      tr.append(B.cell(r.version, { header: true, value: r.version, cls: "nowrap" }), B.cell(stage(r)),
        B.cell("", { node: badge, value: r.state }),
        B.cell(B.int(r.updated) + " / " + B.int(r.kiosks), { num: true, value: r.updated }),
        B.cell(B.int(r.failed), { num: true, value: r.failed }),
        B.cell(B.int(r.waiting), { num: true, value: r.waiting }),
        B.cell(B.when(r.created_at), { value: r.created_at, cls: "nowrap" }),
        B.cell("", { node: stalled, value: r.stalled ? "1" : "0" }),
        B.cell("", { node: actions }));
      return tr;
    }));
    if (!list.length) {
      const tr = document.createElement("tr");
      const td = B.cell("Aucun déploiement.");
      td.colSpan = 9;
      tr.append(td);
      tbody.append(tr);
    }
  }

  B.page(async (who) => {
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
    if (OPERATORS.includes(who.role)) {
      document.getElementById("rollouts-section").hidden = false;
      await rollouts();
    }
  });
})();
