// skubridge console: live run state over server-sent events, and times in the browser's zone.
// No framework, no build step; the page works (without live updates) if this never runs.
"use strict";

function localTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) {
    el.textContent = new Date(el.getAttribute("datetime")).toLocaleString();
    el.title = el.getAttribute("datetime");
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
  const section = document.getElementById("run");
  if (section) follow(section);
});
