"""
The lesson's interactive page: one self-contained HTML file (no network,
no library) in which a learner scrubs through a recorded run of the
lesson's programs and sees, at each instant, which requests are waiting,
working or answered, and on which thread or process each ran.

The page is the recorded run (L{benchmarks.lessonrun}) and a few lines of
script that draw it; C{#t=SECONDS} in its address opens it at that
instant.  C{python -m benchmarks.timeline --lesson} writes it beside the
pictures; the docs publish it as C{lesson.html}.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

#: What a request is doing between two of its recorded times, in order.
STATES = [
    ("sent", "not yet accepted"),
    ("accepted", "waiting"),
    ("began", "{slow}"),
    ("ended", "waiting"),
    ("answered", "on its way"),
    ("received", "answered"),
]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hello_service: the lesson, request by request</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto;
       max-width: 62em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.controls { position: sticky; top: 0; background: #fff; padding: .6em 0;
            border-bottom: 1px solid #ddd; display: flex; gap: 1em;
            align-items: center; z-index: 1; }
.controls input { flex: 1; }
#now { font-variant-numeric: tabular-nums; min-width: 6.5em; }
.panel { margin: 1em 0 1.4em; }
.panel h3 { font-size: 1em; margin: 0; }
.panel code { font-size: .85em; color: #555; }
.summary { color: #444; font-size: .9em; margin: .2em 0 .4em; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
td { padding: .15em .5em; border-bottom: 1px solid #eee; white-space: nowrap; }
td.bar { width: 50%; }
svg { display: block; width: 100%; height: 14px; }
.state { border-radius: 3px; padding: 0 .4em; }
[data-state="not sent"] .state { color: #999; }
[data-state="not yet accepted"] .state { background: #f2e3c6; }
[data-state="waiting"] .state { background: #d9d9d9; }
[data-state="sleeping"] .state, [data-state="working"] .state
  { background: #3b7dd8; color: #fff; }
[data-state="on its way"] .state { background: #8fc98f; }
[data-state="answered"] .state { background: #2e7d32; color: #fff; }
</style>
</head>
<body>
<h1>The lesson, request by request</h1>
<p>Recorded by <code>python -m benchmarks.timeline --lesson</code> on
RUN_DATE at commit RUN_COMMIT (RUN_MACHINE). Each program of
<code>examples/</code> ran as a real process and wrote, for every request,
when it was accepted, when its slow part began and ended, when its answer
was written, and on which thread of which process it ran; the client noted
when it sent each request and when each answer was whole. Move the slider
(or press play) to see every program at the same instant.</p>
<div class="controls">
<button id="play" type="button">play</button>
<input id="time" type="range" min="0" max="RUN_END" step="0.01" value="0"
       aria-label="seconds since the first request was sent">
<span id="now"></span>
</div>
<div id="comparisons"></div>
<script type="application/json" id="run">RUN_JSON</script>
<script>
"use strict";
const run = JSON.parse(document.getElementById("run").textContent);
const STATES = STATES_JSON;
const slider = document.getElementById("time");
const end = Number(slider.max);

function stateAt(request, slow, t) {
  let state = "not sent";
  for (const [time, name] of STATES) {
    const at = request[time];
    if (at !== null && at <= t) {
      state = name.replace("{slow}", slow);
    }
  }
  return state;
}

function bar(request, slow) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 1000 14");
  svg.setAttribute("preserveAspectRatio", "none");
  const colours = {"not yet accepted": "#f2e3c6", "waiting": "#d9d9d9",
                   "on its way": "#8fc98f"};
  colours[slow] = "#3b7dd8";
  const times = STATES.filter(([time]) => request[time] !== null);
  for (let i = 0; i + 1 < times.length; i++) {
    const from = request[times[i][0]], to = request[times[i + 1][0]];
    const name = times[i][1].replace("{slow}", slow);
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", 1000 * from / end);
    rect.setAttribute("width", Math.max(1000 * (to - from) / end, 0));
    rect.setAttribute("y", 2); rect.setAttribute("height", 10);
    rect.setAttribute("fill", colours[name] || "#d9d9d9");
    svg.appendChild(rect);
  }
  const cursor = document.createElementNS("http://www.w3.org/2000/svg", "line");
  cursor.setAttribute("y1", 0); cursor.setAttribute("y2", 14);
  cursor.setAttribute("stroke", "#c0392b"); cursor.setAttribute("stroke-width", 3);
  cursor.classList.add("cursor");
  svg.appendChild(cursor);
  return svg;
}

const rows = [];
const summaries = [];
const root = document.getElementById("comparisons");
for (const comparison of run.comparisons) {
  const heading = document.createElement("h2");
  heading.textContent = comparison.title;
  root.appendChild(heading);
  for (const panel of comparison.panels) {
    const section = document.createElement("section");
    section.className = "panel";
    section.dataset.panel = panel.title;
    const title = document.createElement("h3");
    title.textContent = panel.title + " ";
    const command = document.createElement("code");
    command.textContent = panel.command;
    title.appendChild(command);
    const summary = document.createElement("p");
    summary.className = "summary";
    summaries.push([summary, panel, comparison.slow]);
    const table = document.createElement("table");
    for (const request of panel.requests) {
      const row = table.insertRow();
      row.insertCell().textContent = request.request;
      const state = row.insertCell();
      state.innerHTML = '<span class="state"></span>';
      row.insertCell().textContent = request.where;
      row.insertCell().appendChild(bar(request, comparison.slow));
      row.cells[3].className = "bar";
      rows.push([row, request, comparison.slow]);
    }
    section.append(title, summary, table);
    root.appendChild(section);
  }
}

function show(t) {
  document.getElementById("now").textContent = t.toFixed(2) + " s";
  for (const [row, request, slow] of rows) {
    const state = stateAt(request, slow, t);
    row.dataset.state = state;
    row.querySelector(".state").textContent = state;
  }
  for (const [summary, panel, slow] of summaries) {
    const counts = new Map();
    for (const request of panel.requests) {
      const state = stateAt(request, slow, t);
      counts.set(state, (counts.get(state) || 0) + 1);
    }
    summary.textContent = Array.from(counts, ([s, n]) => n + " " + s).join(", ");
  }
  for (const cursor of document.querySelectorAll(".cursor")) {
    cursor.setAttribute("x1", 1000 * t / end);
    cursor.setAttribute("x2", 1000 * t / end);
  }
}

slider.addEventListener("input", () => show(Number(slider.value)));
let playing = null;
document.getElementById("play").addEventListener("click", () => {
  if (playing) { clearInterval(playing); playing = null; return; }
  if (Number(slider.value) >= end) slider.value = 0;
  playing = setInterval(() => {
    slider.value = Math.min(end, Number(slider.value) + 0.02);
    show(Number(slider.value));
    if (Number(slider.value) >= end) { clearInterval(playing); playing = null; }
  }, 40);  /* half speed: 0.02 s of the run every 0.04 s */
});
const asked = /t=([0-9.]+)/.exec(location.hash);
slider.value = asked ? asked[1] : 0;
show(Number(slider.value));
</script>
</body>
</html>
"""


def end(document: dict[str, Any]) -> float:
    """
    The slider's end: a little after the last answer of the run.
    """
    last = max(
        request["received"]
        for comparison in document["comparisons"]
        for panel in comparison["panels"]
        for request in panel["requests"]
    )
    return round(last * 1.05 + 0.05, 2)


def writePage(document: dict[str, Any], output: Path) -> None:
    run = document["run"]
    data = json.dumps(document, separators=(",", ":")).replace("</", "<\\/")
    page = (
        _PAGE.replace("RUN_JSON", data)
        .replace("STATES_JSON", json.dumps(STATES))
        .replace("RUN_END", str(end(document)))
        .replace("RUN_DATE", html.escape(run["date"]))
        .replace("RUN_COMMIT", html.escape(run["commit"]))
        .replace("RUN_MACHINE", html.escape(run["machine"]))
    )
    output.write_text(page, encoding="utf-8")
