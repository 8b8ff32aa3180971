// skubridge console: live run state over server-sent events, times in the browser's zone,
// wide tables in their own scroll box, and a preview page that updates itself while it is built.
// No framework, no build step; the page works (without live updates) if this never runs.
"use strict";

const STARTS = ["start", "verify", "retry"];
const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

function relative(date, now) {
  // "3 minutes ago": the largest unit that fits, in the browser's language.
  const seconds = (date.getTime() - now) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) || UNITS[3];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

function localTime(el) {
  // Times arrive as ISO 8601 in UTC; shown in the browser's time zone. A [data-relative]
  // time reads "5 minutes ago", a [data-clock] one the local time of day; both with the exact
  // local date and time as their title.
  const date = new Date(el.getAttribute("datetime"));
  const exact = date.toLocaleString();
  if (el.hasAttribute("data-relative")) {
    el.textContent = relative(date, Date.now());
  } else if (el.hasAttribute("data-clock")) {
    el.textContent = date.toLocaleTimeString();
  } else {
    el.textContent = exact;
  }
  el.title = el.hasAttribute("data-relative") || el.hasAttribute("data-clock") ? exact : el.getAttribute("datetime");
}

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) localTime(el);
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showRecent(items, failedOnly) {
  // The "Recently synced" table, redrawn from the feed's rows (newest first).
  const body = document.getElementById("recent-rows");
  if (!body) return;
  const table = body.closest("table");
  body.replaceChildren();
  for (const item of items) {
    const row = body.insertRow();
    row.dataset.status = item.status;
    if (item.status === "failed") row.className = "failed";
    cell(row, item.sku);
    cell(row, item.name);
    cell(row, item.action);
    const time = document.createElement("time");
    time.dataset.clock = "";
    time.setAttribute("datetime", item.at);
    localTime(time);
    cell(row, "").append(time);
    cell(row, item.error, "error");
  }
  if (!items.length) {
    const row = body.insertRow();
    row.className = "empty";
    cell(row, failedOnly ? table.dataset.emptyFailed : table.dataset.emptyAll).colSpan = 5;
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
    // The start buttons point at the reason they are off, while there is one.
    if (STARTS.includes(button.dataset.control)) {
      if (run.blocked) button.setAttribute("aria-describedby", "run-blocked");
      else button.removeAttribute("aria-describedby");
    }
  }
  const blocked = document.getElementById("run-blocked");
  if (blocked) {
    blocked.textContent = run.blocked || "";
    blocked.hidden = !run.blocked;
  }
  const about = document.getElementById("run-about");
  if (about) {
    about.textContent = run.about || "";
    about.hidden = !run.about;
  }
  for (const input of document.querySelectorAll("[data-run-id]")) input.value = run.run_id || "";
  if (run.recent) showRecent(run.recent, run.failed_only);
}

function follow(section) {
  // EventSource reconnects by itself after a dropped connection. Ticking "Failed only" opens
  // the feed again with ?failed=1 (the server narrows the list) and keeps it in the address.
  const box = document.getElementById("failed-only");
  let source = null;
  const open = () => {
    if (source) source.close();
    source = new EventSource(section.dataset.events + (box && box.checked ? "?failed=1" : ""));
    source.addEventListener("run", (event) => showRun(JSON.parse(event.data)));
  };
  if (box) {
    box.addEventListener("change", () => {
      const url = new URL(window.location.href);
      url.searchParams.delete("notice");
      if (box.checked) url.searchParams.set("failed", "1"); else url.searchParams.delete("failed");
      window.history.replaceState(null, "", url);
      open();
    });
  }
  open();
}

function submitOnce() {
  // A form marked [data-once] is sent once: its button is disabled as it goes (the service
  // refuses a second one anyway).
  for (const form of document.querySelectorAll("form[data-once]")) {
    form.addEventListener("submit", () => {
      setTimeout(() => { for (const b of form.querySelectorAll("button")) b.disabled = true; }, 0);
    });
  }
}

function scrollBoxes(root) {
  // A wide table scrolls inside its own box, never the page (phone widths); a long one may too
  // (the status page's Recently synced). A box that scrolls takes the keyboard focus, so it can
  // be scrolled without a mouse.
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
    if (box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight) box.tabIndex = 0;
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
  submitOnce();
  setInterval(() => localTimes(document), 30000);  // "2 minutes ago" stays true while the page is open
  // A form sent back with errors: the first field in error takes the focus.
  document.querySelector('form [aria-invalid="true"]')?.focus();
  const section = document.getElementById("run");
  if (section) follow(section);
});
