// Starts the wasm viewer for the page it is loaded in (index.html or embed.html) and keeps
// the state badge and the stats line current. Parameters: ?name= (broadcast, default
// "screen") and ?url= (relay, default http://<this host>:4443/anon).
import init, { Viewer } from "/pkg/viewer.js";

const params = new URLSearchParams(location.search);
const name = params.get("name") || "screen";
const url = params.get("url") || `http://${location.hostname}:4443/anon`;

const canvas = document.getElementById("video");
const stateEl = document.getElementById("state");
const statsEl = document.getElementById("stats");

const STATE_TEXT = {
  connecting: "Connecting…",
  "waiting for broadcast": `Waiting for broadcast “${name}”…`,
  live: "● Live",
  offline: `Broadcast “${name}” is offline`,
  error: "Error",
};

function showState(state, detail) {
  stateEl.dataset.state = state;
  stateEl.textContent = STATE_TEXT[state] ?? state;
  if (detail) {
    const span = document.createElement("span");
    span.className = "detail";
    span.textContent = detail;
    stateEl.append(span);
  }
}

const ms = (value) => (value == null ? "–" : value.toFixed(1));

// Rendered frame counts of the last second or so, for the fps figure.
const history = [];
function renderedFps(rendered) {
  const now = performance.now();
  history.push({ rendered, at: now });
  while (history.length > 2 && now - history[1].at >= 1000) history.shift();
  const first = history[0];
  return now > first.at ? ((rendered - first.rendered) * 1000) / (now - first.at) : 0;
}

function update() {
  const stats = window.viewer.stats();
  const fps = renderedFps(stats.framesRendered);

  // While reconnecting, the last error says why.
  showState(stats.state, stats.error);
  if (!statsEl) return;
  const latency = stats.latencyMs;
  const resolution = stats.width ? `${stats.width}×${stats.height}` : "–";
  statsEl.textContent =
    `latency ${ms(latency.last)} / ${ms(latency.p50)} / ${ms(latency.p95)} ms (last/p50/p95)` +
    ` · ${fps.toFixed(0)} fps · dropped ${stats.framesDropped}` +
    ` · ${stats.codec ?? "–"} ${resolution}` +
    ` · decode ${ms(stats.decodeMs.p50)} / ${ms(stats.decodeMs.p95)} ms`;
}

try {
  showState("connecting");
  await init();
  window.viewer = new Viewer(canvas, { url, name });
  update();
  setInterval(update, 250);
} catch (err) {
  showState("error", `The viewer failed to start: ${err?.message ?? err}`);
}
