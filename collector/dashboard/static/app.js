/* borne dashboard: what every page shares.
 *
 * The token lives in sessionStorage only (gone when the tab closes), is sent in an Authorization header to the
 * collector's own API, and is never written to the console, a URL or a cookie. Staff signed in through OpenID
 * Connect have no token: their session is an HttpOnly cookie, and state changes carry its CSRF token (send()). Every figure on a page comes from
 * an API answer; each element showing one carries the raw value in data-value, so that tests compare them.
 * Text from the API is always set with textContent, never as HTML.
 */
"use strict";

(function () {
  const body = document.body;
  const PREFIX = body.dataset.prefix || "/dashboard";
  const TOKEN_KEY = "borne.token";
  const LEVELS = ["national", "region", "departement", "espace"];
  const LEVEL_NAMES = { national: "France", region: "région", departement: "département", espace: "espace" };
  const WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
  const COLORS = { blue: "#000091", red: "#ce0500", green: "#18753c", text: "#161616", muted: "#3a3a3a" };

  const nf0 = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat("fr-FR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const dateTime = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "short" });
  const dayFmt = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const monthFmt = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
  function signOut() {
    if (token()) {
      sessionStorage.removeItem(TOKEN_KEY);
      window.location.assign(PREFIX + "/connexion");
      return;
    }
    staffSignOut();
  }

  // ---- staff signed in through OpenID Connect (collector/staff/): a session cookie, not a token ----
  // The session's cookie is HttpOnly; its CSRF token sits in a cookie of its own that this script reads and sends
  // back in X-CSRF-Token with every state change.
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)borne_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  /** POST/PUT/PATCH/DELETE to the collector with the session's CSRF token (or the user's token). */
  async function send(method, path, payload, contentType) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
    const current = token();
    if (current) headers.Authorization = "Bearer " + current;
    let bodyText;
    if (payload !== undefined) {
      headers["Content-Type"] = contentType || "application/json";
      bodyText = contentType ? payload : JSON.stringify(payload);
    }
    const response = await fetch(path, { method, headers, body: bodyText, cache: "no-store",
      credentials: "same-origin" });
    let answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (!response.ok) {
      const detail = answer && answer.detail;
      throw new ApiError(response.status, typeof detail === "string" ? detail : "Le collecteur a répondu "
        + response.status + ".");
    }
    return answer;
  }
  async function staffSignOut() {
    let next = PREFIX + "/connexion";
    try {
      const answer = await send("POST", PREFIX + "/oidc/logout");
      if (answer && answer.redirect) next = answer.redirect;
    } catch (e) { next = PREFIX + "/connexion"; }
    window.location.assign(next);
  }
  function adminLinks(who) {
    const list = document.querySelector("nav.main ul");
    if (!list || who.role !== "admin") return;
    for (const [slug, label] of [["acces", "Accès"], ["journal", "Journal des accès"]]) {
      const li = document.createElement("li");
      li.className = "fr-nav__item";
      const a = document.createElement("a");
      a.className = "fr-nav__link";
      a.href = PREFIX + "/" + slug;
      a.textContent = label;
      if (body.dataset.page === slug) a.setAttribute("aria-current", "page");
      li.append(a);
      list.append(li);
    }
  }
  // ---- end of staff sign-in ----

  function toSignIn() {
    const next = window.location.pathname + window.location.search;
    window.location.assign(PREFIX + "/connexion?suite=" + encodeURIComponent(next));
  }

  /** GET a JSON resource of the collector with the user's token; 401 sends back to the sign-in page. */
  async function api(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Accept: "application/json" };
    const current = token();
    if (current) headers.Authorization = "Bearer " + current;
    const response = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    if (response.status === 401 && body.dataset.signedIn === "true") {
      sessionStorage.removeItem(TOKEN_KEY);
      toSignIn();
      throw new ApiError(401, "Session expirée : reconnectez-vous.");
    }
    if (!response.ok) {
      throw new ApiError(response.status, refusal(response.status, response.headers.get("Retry-After")));
    }
    return response.json();
  }

  let zonesPromise = null;
  function zones() {
    if (!zonesPromise) zonesPromise = api(PREFIX + "/api/zones");
    return zonesPromise;
  }
  let espacesPromise = null;
  /** The espaces the user may read, by id. */
  function espaces() {
    if (!espacesPromise) {
      espacesPromise = api(PREFIX + "/api/espaces").then((list) => {
        const byId = {};
        for (const espace of list) byId[espace.id] = espace;
        return byId;
      });
    }
    return espacesPromise;
  }

  // ---- formatting (French) ----
  function pct(rate) { return rate === null || rate === undefined ? "—" : nf1.format(rate * 100) + "\u00a0%"; }
  function points(value) { return value === null || value === undefined ? "—" : nf1.format(value) + "\u00a0%"; }
  function int(n) { return n === null || n === undefined ? "—" : nf0.format(n); }
  function signed(value) {
    if (value === null || value === undefined) return "—";
    if (Math.abs(value) < 0.05) return nf1.format(0) + "\u00a0pt";
    return (value > 0 ? "+" : "−") + nf1.format(Math.abs(value)) + "\u00a0pt";
  }
  /** A time from the API; one without an offset (SQLite keeps none) is UTC, as the collector stores it. */
  function instant(iso) { return new Date(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z"); }
  function when(iso) { return iso ? dateTime.format(instant(iso)) : "jamais"; }
  const relative = new Intl.RelativeTimeFormat("fr-FR", { numeric: "auto", style: "short" });
  /** "23/11/2026 10:14 (il y a 3 h)". */
  function ago(iso) {
    if (!iso) return "jamais";
    const seconds = (instant(iso).getTime() - Date.now()) / 1000;
    const [amount, unit] = Math.abs(seconds) < 90 ? [Math.round(seconds), "second"]
      : Math.abs(seconds) < 5400 ? [Math.round(seconds / 60), "minute"]
        : Math.abs(seconds) < 172800 ? [Math.round(seconds / 3600), "hour"] : [Math.round(seconds / 86400), "day"];
    return when(iso) + " (" + relative.format(amount, unit) + ")";
  }
  function period(iso, granularity) {
    const day = new Date(iso + "T00:00:00Z");
    if (granularity === "month") return monthFmt.format(day);
    if (granularity === "week") return "semaine du " + dayFmt.format(day);
    return dayFmt.format(day);
  }
  /** "1 espace", "3 espaces" (French: 0 and 1 are singular). */
  function plural(n, word) { return int(n) + " " + word + (Math.abs(n) >= 2 ? "s" : ""); }
  /** Département codes in the INSEE order: 19, 2A, 2B, 21 ... 95, 971. */
  function departementKey(code) {
    if (code === "2A" || code === "2B") return 20 + (code === "2B" ? 0.2 : 0.1);
    return Number.parseInt(code, 10);
  }
  function compareDepartements(a, b) { return departementKey(a) - departementKey(b) || a.localeCompare(b); }

  /** The French message of an API refusal (the API's own detail is for programs, in English). */
  function refusal(status, retryAfter) {
    if (status === 403) return "Hors de votre périmètre : votre compte ne donne pas accès à cette zone.";
    if (status === 404) return "Introuvable : cette zone ou cet espace n'existe pas.";
    if (status === 422) return "Demande incomprise : vérifiez la zone et la période dans l'adresse.";
    if (status === 429) return tooMany(retryAfter);
    if (status >= 500) return "Le collecteur a rencontré une erreur (" + status + ") : réessayez plus tard.";
    return "Le collecteur a refusé la demande (" + status + ").";
  }
  /** "Trop de tentatives ... : réessayez dans 5 minutes (à 17:02)." from a Retry-After in seconds. */
  function tooMany(retryAfter) {
    const seconds = Math.max(1, Number(retryAfter) || 300);
    const at = new Date(Date.now() + seconds * 1000);
    const minutes = Math.ceil(seconds / 60);
    return "Trop de tentatives de connexion depuis cet appareil : réessayez dans "
      + (seconds < 60 ? seconds + " secondes" : plural(minutes, "minute")) + " (à "
      + String(at.getHours()).padStart(2, "0") + ":" + String(at.getMinutes()).padStart(2, "0") + ").";
  }

  function interval(low, high) {
    if (low === null || low === undefined) return "—";
    return nf1.format(low * 100) + " – " + nf1.format(high * 100) + "\u00a0%";
  }

  function zoneName(z, level, code, espacesById) {
    if (level === "national") return "France entière";
    if (level === "region") return (z.regions[code] || "Région " + code);
    if (level === "departement") {
      const dep = z.departements[code];
      return (dep ? dep.name : "Département") + " (" + code + ")";
    }
    const espace = espacesById && espacesById[code];
    return espace ? espace.name : "Espace " + code;
  }

  /** The zone a page shows: ?level=&code= in the URL, else where the user's scope starts. */
  function where(session) {
    const params = new URLSearchParams(window.location.search);
    let level = params.get("level") || session.level;
    let code = params.get("code") || null;
    if (!LEVELS.includes(level)) level = session.level;
    if (level === "national") code = null;
    if (LEVELS.indexOf(level) < LEVELS.indexOf(session.level)) { level = session.level; code = session.code; }
    if (level !== "national" && !code) { level = session.level; code = session.code; }
    return { level, code };
  }

  function link(page, level, code) {
    const params = new URLSearchParams();
    if (level && level !== "national") { params.set("level", level); params.set("code", code); }
    const query = params.toString();
    return PREFIX + "/" + page + (query ? "?" + query : "");
  }

  /** The breadcrumb from the user's top zone down to ``w``. */
  async function crumbs(session, w, page) {
    const list = document.getElementById("crumbs");
    if (!list) return;
    const z = await zones();
    const espacesById = await espaces();
    const chain = [{ level: "national", code: null }];
    let departement = null;
    if (w.level === "espace") departement = (espacesById[w.code] || {}).departement || null;
    if (w.level === "departement") departement = w.code;
    const region = w.level === "region" ? w.code : departement && z.departements[departement]
      ? z.departements[departement].region : null;
    if (region) chain.push({ level: "region", code: region });
    if (departement) chain.push({ level: "departement", code: departement });
    if (w.level === "espace") chain.push({ level: "espace", code: w.code });
    const top = LEVELS.indexOf(session.level);
    list.replaceChildren();
    list.closest("nav").hidden = chain.filter((item) => LEVELS.indexOf(item.level) >= top).length < 2;
    for (const item of chain) {
      if (LEVELS.indexOf(item.level) < top) continue;
      const li = document.createElement("li");
      const label = zoneName(z, item.level, item.code, espacesById);
      const a = document.createElement("a");
      a.className = "fr-breadcrumb__link";
      a.textContent = label;
      if (item.level === w.level) a.setAttribute("aria-current", "page");
      else a.href = link(page, item.level, item.code);
      li.append(a);
      list.append(li);
    }
  }

  /** from/to (local days, to exclusive) of the period chosen in #period. */
  function periodParams() {
    const select = document.getElementById("period");
    delete body.dataset.from;
    delete body.dataset.to;
    if (!select || select.value === "all") return {};
    const days = Number(select.value);
    const today = new Date();
    const iso = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-"
      + String(d.getDate()).padStart(2, "0");
    const to = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    const from = new Date(today.getFullYear(), today.getMonth(), today.getDate() - days + 1);
    // Shown on the page so that tests (and curious users) can ask the API for the same period.
    body.dataset.from = iso(from);
    body.dataset.to = iso(to);
    return { from: iso(from), to: iso(to) };
  }

  /** Keep the filters in the URL's query, so that a reload or a shared link shows the same thing. */
  function bindFilters(onChange) {
    const form = document.getElementById("filters");
    if (!form) return;
    const params = new URLSearchParams(window.location.search);
    for (const field of form.elements) {
      if (!field.name || !params.has(field.name)) continue;
      if (field.type === "checkbox") field.checked = params.get(field.name) === "1";
      else field.value = params.get(field.name);
    }
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("change", () => {
      const next = new URLSearchParams(window.location.search);
      for (const field of form.elements) {
        if (!field.name) continue;
        next.set(field.name, field.type === "checkbox" ? (field.checked ? "1" : "0") : field.value);
      }
      history.replaceState(null, "", window.location.pathname + "?" + next.toString());
      onChange();
    });
  }

  function cell(text, options) {
    const td = document.createElement(options && options.header ? "th" : "td");
    if (options && options.header) td.scope = "row";
    if (options && options.num) td.className = "num";
    if (options && options.value !== undefined && options.value !== null) td.dataset.value = String(options.value);
    if (options && options.node) td.append(options.node); else td.textContent = text;
    if (options && options.cls) td.classList.add(options.cls);
    return td;
  }

  function attainment(rate, target) {
    const span = document.createElement("span");
    if (rate === null || rate === undefined) { span.textContent = "—"; return span; }
    const reached = rate * 100 >= target;
    span.className = reached ? "ok" : "ko";
    span.textContent = reached ? "✓ atteint" : "✗ non atteint";
    return span;
  }

  function status(message, isError) {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = message || "";
    // An error is a DSFR alert; « Chargement… » stays plain text.
    el.classList.toggle("fr-alert", Boolean(isError && message));
    el.classList.toggle("fr-alert--error", Boolean(isError && message));
    el.classList.toggle("fr-alert--sm", Boolean(isError && message));
  }

  /** ``promise``, a 403 told as a page for admins only. */
  function adminsOnly(promise) {
    return promise.catch((error) => {
      if (error instanceof ApiError && error.status === 403) {
        throw new ApiError(403, "Réservé aux administrateurs : votre compte ne donne pas accès à cette page.");
      }
      throw error;
    });
  }

  function done() { body.dataset.ready = "true"; }
  function loading() { body.dataset.ready = "false"; }

  const charts = [];
  /** An ECharts chart in ``el`` (SVG, French, with ECharts' own ARIA description). */
  function chart(el, option) {
    let instance = window.echarts.getInstanceByDom(el);
    if (!instance) {
      instance = window.echarts.init(el, null, { renderer: "svg", locale: "FR" });
      charts.push(instance);
    }
    // ECharts writes an aria-label of its own; ours (in the template) points to the table behind the chart.
    if (!el.dataset.label) el.dataset.label = el.getAttribute("aria-label") || "";
    instance.setOption(Object.assign({ aria: { enabled: true, label: { description: el.dataset.label } },
      animation: false,
      textStyle: { fontFamily: "Arial, Helvetica, sans-serif", color: COLORS.text } }, option), true);
    return instance;
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  let sessionPromise = null;
  /** Who is signed in; without a token, off to the sign-in page. */
  function session() {
    if (!sessionPromise) {
      // Without a token, a staff session's cookie may do; the API's 401 sends to the sign-in page.
      sessionPromise = api(PREFIX + "/api/session").then((who) => {
        // The DSFR copies the header's tools into the phone menu (ids suffixed "-mobile"): fill both.
        for (const suffix of ["", "-mobile"]) {
          const name = document.getElementById("who-name" + suffix);
          if (name) name.textContent = who.name + " · " + who.role_label;
          const box = document.getElementById("who" + suffix);
          if (box) box.hidden = false;
        }
        adminLinks(who);
        return who;
      });
    }
    return sessionPromise;
  }

  /** Download the table behind the view (/dashboard/api/export/VIEW), as the page shows it now. */
  async function download(button, who) {
    const w = where(who);
    const params = new URLSearchParams({ format: button.dataset.format });
    if (w.level !== "national") { params.set("level", w.level); params.set("code", w.code); }
    if (body.dataset.from) { params.set("from", body.dataset.from); params.set("to", body.dataset.to); }
    const form = document.getElementById("filters");
    for (const field of form ? form.elements : []) {
      if (!field.name || field.name === "period") continue;
      params.set(field.name, field.type === "checkbox" ? String(field.checked) : field.value);
    }
    const response = await fetch(PREFIX + "/api/export/" + button.dataset.export + "?" + params,
      { headers: { Authorization: "Bearer " + token() }, cache: "no-store", credentials: "omit" });
    if (!response.ok) throw new ApiError(response.status, "Le téléchargement a échoué (" + response.status + ").");
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name ? name[1] : "export." + button.dataset.format;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /** Run a page: its ``load(session)`` once, then again each time a filter changes. */
  function page(load) {
    document.addEventListener("DOMContentLoaded", () => {
      // The sign-out button and its copy in the phone menu, made by the DSFR after this listener is set.
      document.addEventListener("click", (event) => {
        if (event.target instanceof Element && event.target.closest(".signout")) signOut();
      });
      session().then((who) => {
        for (const button of document.querySelectorAll("[data-export]")) {
          button.addEventListener("click", () => download(button, who).catch((error) => status(error.message, true)));
        }
        const run = () => {
          loading();
          status("Chargement…");
          return Promise.resolve(load(who)).then(() => { status(""); done(); })
            .catch((error) => { status(error.message, true); done(); });
        };
        bindFilters(run);
        return run();
      }).catch((error) => { status(error.message, true); done(); });
    });
  }

  window.Borne = {
    PREFIX, LEVELS, LEVEL_NAMES, WEEKDAYS, COLORS, ApiError,
    token, setToken, signOut, api, send, zones, espaces, where, link, crumbs, periodParams,
    pct, points, int, signed, when, ago, period, interval, zoneName, cell, attainment, status, chart, page, done,
    plural, compareDepartements, refusal, tooMany, adminsOnly,
  };
})();
