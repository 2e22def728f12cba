/* borne dashboard: the sign-in page. The token is checked against the collector, then kept in sessionStorage. */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signin");
  const field = document.getElementById("token");
  const error = document.getElementById("signin-error");
  const prefix = Borne.PREFIX;
  const params = new URLSearchParams(window.location.search);
  const suite = params.get("suite") || "";
  // Only back to a page of the dashboard itself: never an address given by someone else.
  const next = suite.startsWith(prefix + "/") && !suite.startsWith("//") ? suite : prefix + "/";
  // The OpenID Connect sign-in (when configured) comes back to the same page.
  const oidc = document.getElementById("oidc-signin");
  if (oidc) oidc.href = prefix + "/oidc/login?suite=" + encodeURIComponent(next);
  if (Borne.token()) {
    Borne.status("Vous êtes déjà connecté ; un nouveau jeton remplace l'actuel.");
  }
  field.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const value = field.value.trim();
    if (!value) { error.textContent = "Collez votre jeton d'accès."; return; }
    let response;
    try {
      response = await fetch(prefix + "/api/session", {
        headers: { Authorization: "Bearer " + value, Accept: "application/json" }, cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      error.textContent = "Le collecteur ne répond pas.";
      return;
    }
    if (response.status === 401) {
      error.textContent = "Ce jeton n'est pas reconnu (inconnu, révoqué, ou son utilisateur est désactivé).";
      field.select();
      return;
    }
    if (response.status === 429) { error.textContent = Borne.tooMany(response.headers.get("Retry-After")); return; }
    if (!response.ok) { error.textContent = Borne.refusal(response.status); return; }
    Borne.setToken(value);
    field.value = "";
    window.location.assign(next);
  });
  Borne.done();
});
