/* borne dashboard: the ranking of the espaces of a zone, as the API ranks them, a page at a time. */
"use strict";

(function () {
  const B = window.Borne;
  // The last ranking asked for: turning a page draws it again without asking the API.
  let shown = null;

  function pageAsked() {
    const n = Number(new URLSearchParams(window.location.search).get("page"));
    return Number.isInteger(n) && n >= 1 ? n : 1;
  }

  function pageHref(n) {
    const params = new URLSearchParams(window.location.search);
    if (n > 1) params.set("page", String(n)); else params.delete("page");
    const query = params.toString();
    return window.location.pathname + (query ? "?" + query : "");
  }

  /** Page numbers to offer: the first, the last, and those around the current one; null for a gap. */
  function pageNumbers(page, pages) {
    const numbers = [];
    for (let n = 1; n <= pages; n++) {
      if (n === 1 || n === pages || Math.abs(n - page) <= 1) numbers.push(n);
      else if (numbers[numbers.length - 1] !== null) numbers.push(null);
    }
    return numbers;
  }

  /** A link of the DSFR's pagination to page ``n``; ``state`` "current" (this page) or "disabled" (no such page). */
  function pageLink(text, n, cls, state, title) {
    const a = document.createElement("a");
    a.className = "fr-pagination__link" + (cls ? " " + cls : "");
    a.textContent = text;
    if (title) a.title = title;
    if (state === "current") {
      a.setAttribute("aria-current", "page");
    } else if (state === "disabled") {
      a.setAttribute("aria-disabled", "true");
      a.setAttribute("role", "link");
    } else {
      a.href = pageHref(n);
      a.dataset.page = String(n);
    }
    const li = document.createElement("li");
    li.append(a);
    return li;
  }

  function drawPages(page, pages) {
    const nav = document.getElementById("ranking-pages");
    nav.hidden = pages <= 1;
    if (pages <= 1) { nav.querySelector("ul").replaceChildren(); return; }
    const first = page === 1 ? "disabled" : "";
    const last = page === pages ? "disabled" : "";
    const items = [
      pageLink("Première page", 1, "fr-pagination__link--first", first),
      pageLink("Page précédente", page - 1, "fr-pagination__link--prev fr-pagination__link--lg-label", first),
    ];
    for (const n of pageNumbers(page, pages)) {
      if (n === null) {
        const li = document.createElement("li");
        const gap = document.createElement("span");
        gap.className = "fr-pagination__link fr-displayed-lg";
        gap.textContent = "…";
        li.append(gap);
        items.push(li);
      } else {
        items.push(pageLink(String(n), n, "", n === page ? "current" : "", "Page " + n));
      }
    }
    items.push(pageLink("Page suivante", page + 1, "fr-pagination__link--next fr-pagination__link--lg-label", last));
    items.push(pageLink("Dernière page", pages, "fr-pagination__link--last", last));
    nav.querySelector("ul").replaceChildren(...items);
  }

  function draw() {
    const { rows, z, espacesById, w, target } = shown;
    const size = Number(document.getElementById("per-page").value) || 0;
    const pages = size > 0 ? Math.max(1, Math.ceil(rows.length / size)) : 1;
    const page = Math.min(pageAsked(), pages);
    const first = size > 0 ? (page - 1) * size : 0;
    const slice = size > 0 ? rows.slice(first, first + size) : rows;
    document.body.dataset.page = String(page);
    document.getElementById("ranking-caption").textContent = "Classement des espaces : "
      + B.zoneName(z, w.level, w.code, espacesById) + " (" + B.plural(rows.length, "espace") + ")"
      + (pages > 1 ? ", rangs " + B.int(first + 1) + " à " + B.int(first + slice.length) + " (page " + page
        + " sur " + pages + ")" : "");
    const tbody = document.querySelector("#ranking tbody");
    tbody.replaceChildren(...slice.map((r) => {
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
    drawPages(page, pages);
  }

  /** Turn to another page: drawn from the ranking already there, kept in the address (back goes back). */
  function turn(event) {
    const a = event.target instanceof Element ? event.target.closest("a[data-page]") : null;
    if (!a || !shown) return;
    event.preventDefault();
    history.pushState(null, "", a.getAttribute("href"));
    draw();
    document.querySelector("#ranking-wrap .fr-table__container").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("ranking-pages").addEventListener("click", turn);
    window.addEventListener("popstate", () => { if (shown) draw(); });
  });

  B.page(async (session) => {
    const w = B.where(session);
    await B.crumbs(session, w, "classement");
    const [z, espacesById] = await Promise.all([B.zones(), B.espaces()]);
    const by = document.getElementById("by").value;
    const minVotes = Math.max(1, Number(document.getElementById("min-votes").value) || 1);
    const params = B.periodParams();
    const key = JSON.stringify([w.level, w.code, by, minVotes, params, document.getElementById("per-page").value]);
    if (shown && shown.key !== key) history.replaceState(null, "", pageHref(1));  // new filters: back to page 1
    const [rows, zone] = await Promise.all([
      B.api("/api/v1/kpi/ranking", Object.assign({ level: w.level, code: w.code, by, min_votes: minVotes }, params)),
      B.api("/api/v1/kpi/satisfaction", Object.assign({ level: w.level, code: w.code, granularity: "year" }, params)),
    ]);
    const target = zone.target;
    const targetText = document.getElementById("ranking-target");
    targetText.textContent = "Objectif : " + B.points(target) + " de satisfaits (IND-246) ; la dernière colonne dit"
      + " si chaque espace l'atteint.";
    targetText.dataset.value = String(target);
    shown = { key, rows, z, espacesById, w, target };
    draw();
  });
})();
