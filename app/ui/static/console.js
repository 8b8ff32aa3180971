// skubridge console: live run state over server-sent events, and times in the browser's zone.
// No framework, no build step; the page works (without live updates) if this never runs.
"use strict";

const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

function relative(date, now) {
  // "3 minutes ago": the largest unit that fits, in the browser's language.
  const seconds = (date.getTime() - now) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) || UNITS[3];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

function localTimes() {
  // Times arrive as ISO 8601 in UTC; shown in the browser's time zone. A [data-relative]
  // time reads "5 minutes ago", with the exact local time as its title.
  for (const el of document.querySelectorAll("time[datetime]")) {
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

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  // A form sent back with errors: the first field in error takes the focus.
  document.querySelector('form [aria-invalid="true"]')?.focus();
  const section = document.getElementById("run");
  if (section) follow(section);
});
