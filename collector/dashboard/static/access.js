/* borne dashboard: the access list (admins). Every change goes through /api/v1/staff, which logs it. */
"use strict";

(function () {
  const ROLES = { agent: "agent France services", prefecture: "référent préfecture", national: "partenaire national",
    admin: "administrateur" };

  function roleSelect(entry) {
    const select = document.createElement("select");
    select.setAttribute("aria-label", "Rôle de " + (entry.email || entry.subject));
    select.dataset.field = "role";
    for (const [value, label] of Object.entries(ROLES)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      option.selected = value === entry.role;
      select.append(option);
    }
    return select;
  }

  function scopeInput(entry) {
    const input = document.createElement("input");
    input.type = "text";
    input.size = 10;
    input.value = entry.scope || "";
    input.dataset.field = "scope";
    input.setAttribute("aria-label", "Périmètre de " + (entry.email || entry.subject));
    return input;
  }

  function button(text, action, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.dataset.action = action;
    b.addEventListener("click", onClick);
    return b;
  }

  async function change(entry, payload) {
    try {
      await Borne.send("PATCH", "/api/v1/staff/access/" + entry.id, payload);
      Borne.status("Modification enregistrée.");
      await load();
    } catch (error) {
      Borne.status(error.message, true);
    }
  }

  async function load() {
    const list = await Borne.adminsOnly(Borne.api("/api/v1/staff/access"));
    const tbody = document.querySelector("#access-list tbody");
    tbody.replaceChildren();
    for (const entry of list) {
      const tr = document.createElement("tr");
      tr.dataset.email = entry.email || "";
      tr.dataset.id = String(entry.id);
      const who = (entry.email || "sub:" + entry.subject) + (entry.name ? " (" + entry.name + ")" : "");
      tr.append(Borne.cell(who, { header: true }));
      const role = roleSelect(entry);
      const scope = scopeInput(entry);
      tr.append(Borne.cell("", { node: role, value: entry.role }));
      tr.append(Borne.cell("", { node: scope, value: entry.scope || "" }));
      tr.append(Borne.cell(Borne.when(entry.last_sign_in_at)));
      tr.append(Borne.cell(entry.disabled ? "désactivé" : "actif", { value: entry.disabled ? "disabled" : "active" }));
      const actions = document.createElement("span");
      actions.append(button("Enregistrer", "save", () => change(entry, { role: role.value, scope: scope.value })));
      actions.append(" ");
      actions.append(entry.disabled
        ? button("Réactiver", "enable", () => change(entry, { disabled: false }))
        : button("Désactiver", "disable", () => change(entry, { disabled: true })));
      tr.append(Borne.cell("", { node: actions }));
      tbody.append(tr);
    }
  }

  function bindForms() {
    const add = document.getElementById("access-add");
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = document.getElementById("add-result");
      const data = Object.fromEntries(new FormData(add).entries());
      for (const key of Object.keys(data)) if (data[key] === "") data[key] = null;
      try {
        const entry = await Borne.send("POST", "/api/v1/staff/access", data);
        result.textContent = "Ajouté : " + (entry.email || entry.subject) + ".";
        result.classList.remove("error");
        add.reset();
        await load();
      } catch (error) {
        result.textContent = error.message;
        result.classList.add("error");
      }
    });
    const upload = document.getElementById("access-import");
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = document.getElementById("import-result");
      const file = document.getElementById("import-file").files[0];
      if (!file) { result.textContent = "Choisissez un fichier CSV."; return; }
      try {
        const report = await Borne.send("POST", "/api/v1/staff/access/import", await file.text(), "text/csv");
        const lines = report.errors.map(([line, reason]) => "ligne " + line + " : " + reason);
        result.textContent = report.added.length + " ajouté(s), " + report.updated.length + " modifié(s), "
          + report.unchanged + " inchangé(s)" + (lines.length ? " ; " + lines.join(" ; ") : ".");
        result.dataset.added = String(report.added.length);
        result.classList.toggle("error", lines.length > 0);
        await load();
      } catch (error) {
        result.textContent = error.message;
        result.classList.add("error");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", bindForms);
  Borne.page(load);
})();
