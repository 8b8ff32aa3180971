// skubridge console: live run state over server-sent events, times in the browser's zone,
// wide tables in their own scroll box, and a preview page that updates itself while it is built.
// No framework, no build step; the page works (without live updates) if this never runs.
"use strict";

const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

function relative(date, now) {
  // "3 minutes ago": the largest unit that fits, in the browser's language.
  const seconds = (date.getTime() - now) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) || UNITS[3];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

function localTimes(root) {
  // Times arrive as ISO 8601 in UTC; shown in the browser's time zone. A [data-relative]
  // time reads "5 minutes ago", with the exact local time as its title.
  for (const el of root.querySelectorAll("time[datetime]")) {
    const date = new Date(el.getAttribute("datetime"));
    const exact = date.toLocaleString();
    el.textContent = el.hasAttribute("data-relative") ? relative(date, Date.now()) : exact;
    el.title = el.hasAttribute("data-relative") ? exact : el.getAttribute("datetime");
  }
}

function showRun(run) {
  const status = document.getElementById("run-status");
  status.textContent = run.words;
  status.dataset.status = run.status;
  const bar = document.getElementById("run-progress");
  bar.setAttribute("aria-valuenow", String(run.percent));
  bar.querySelector(".fill").style.width = run.percent + "%";
  document.getElementById("run-percent").textContent = String(run.percent);
  for (const el of document.querySelectorAll("[data-counter]")) {
    el.textContent = String(run[el.dataset.counter]);
  }
  for (const button of document.querySelectorAll("[data-control]")) {
    button.disabled = !run.controls[button.dataset.control];
  }
}

function follow(section) {
  // EventSource reconnects by itself after a dropped connection.
  const source = new EventSource(section.dataset.events);
  source.addEventListener("run", (event) => showRun(JSON.parse(event.data)));
}

function scrollBoxes(root) {
  // A wide table scrolls inside its own box, never the page (phone widths). A box that scrolls
  // takes the keyboard focus, so it can be scrolled without a mouse.
  for (const table of root.querySelectorAll("main table")) {
    let box = table.parentElement;
    if (!box.classList.contains("table-wrap")) {
      box = document.createElement("div");
      box.className = "table-wrap";
      box.setAttribute("role", "region");
      const heading = table.closest("section")?.querySelector("h2") || document.querySelector("h1");
      box.setAttribute("aria-label", table.caption?.textContent || heading?.textContent || "Table");
      table.replaceWith(box);
      box.append(table);
    }
    if (box.scrollWidth > box.clientWidth) box.tabIndex = 0;
  }
}

function poll(section) {
  // A preview being built: read this page again every two seconds and, once the state has
  // changed, swap in the new result and status line. No reload: the focus stays where it is.
  const timer = setInterval(async () => {
    let page;
    try {
      const response = await fetch(section.dataset.poll, { credentials: "same-origin" });
      if (response.redirected) clearInterval(timer);  // signed out meanwhile: stop asking
      if (!response.ok || response.redirected) return;
      page = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch {
      return;  // offline for a moment: try again on the next tick
    }
    const fresh = page.getElementById(section.id);
    if (!fresh || fresh.dataset.status === section.dataset.status) return;
    clearInterval(timer);
    document.getElementById("preview-status").innerHTML = page.getElementById("preview-status").innerHTML;
    section.replaceWith(fresh);
    enhance(fresh);
  }, 2000);
}

function enhance(root) {
  localTimes(root);
  scrollBoxes(root);
  const polled = root.matches?.("[data-poll]") ? root : root.querySelector("[data-poll]");
  if (polled) poll(polled);
}

document.addEventListener("DOMContentLoaded", () => {
  enhance(document);
  setInterval(() => localTimes(document), 30000);  // "2 minutes ago" stays true while the page is open
  // A form sent back with errors: the first field in error takes the focus.
  document.querySelector('form [aria-invalid="true"]')?.focus();
  const section = document.getElementById("run");
  if (section) follow(section);
});
