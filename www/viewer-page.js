// Starts the wasm viewer for the page it is loaded in (index.html or embed.html) and keeps
// the state badge, the sound controls and the stats line current. Parameters: ?name=
// (broadcast, default "screen"), ?url= (relay, default http://<this host>:4443/anon) and
// ?probe=1 (note test-source flashes and beeps for A/V sync measurements) and ?audio=message
// (feed sound to the audio thread by messages, as on pages that are not cross-origin isolated)
// and ?sink=canvas (draw into the canvas even where a <video> could show the frames).
import init, { Viewer } from "/pkg/viewer.js";

const params = new URLSearchParams(location.search);
const name = params.get("name") || "screen";
const url = params.get("url") || `http://${location.hostname}:4443/anon`;
const syncProbe = params.get("probe") === "1";
const audioTransport = params.get("audio") === "message" ? "message" : "auto";
const sink = params.get("sink") === "canvas" ? "canvas" : "auto";

const canvas = document.getElementById("video");
const stateEl = document.getElementById("state");
const statsEl = document.getElementById("stats");
const unmuteEl = document.getElementById("unmute");
const audioControlsEl = document.getElementById("audio-controls");
const muteEl = document.getElementById("mute");
const volumeEl = document.getElementById("volume");

// Sound needs a user gesture: the unmute button, or any click on the video.
function unmute() {
  window.viewer?.unmute();
  unmuteEl.hidden = true;
}
unmuteEl.addEventListener("click", unmute);
// The viewer may show the picture in a <video> it puts in the canvas's place: listen on both.
document.getElementById("stage").addEventListener("click", (event) => {
  if (event.target instanceof HTMLCanvasElement || event.target instanceof HTMLVideoElement) unmute();
});
muteEl.addEventListener("click", () => {
  const audio = window.viewer?.stats().audio;
  if (!audio) return;
  if (audio.state === "blocked") unmute();
  else window.viewer.setMuted(!audio.muted);
});
volumeEl.addEventListener("input", () => window.viewer?.setVolume(Number(volumeEl.value)));

function showAudio(audio) {
  const hasAudio = !["off", "unsupported", "error"].includes(audio.state);
  unmuteEl.hidden = audio.state !== "blocked";
  audioControlsEl.hidden = !hasAudio;
  muteEl.textContent = audio.state === "playing" ? "🔊" : "🔇";
  muteEl.setAttribute("aria-label", audio.state === "playing" ? "Mute" : "Unmute");
}

function audioLine(audio) {
  if (audio.state === "off") return " · no audio";
  if (audio.error && ["unsupported", "error"].includes(audio.state)) {
    return ` · no sound: ${audio.error}`;
  }
  const rate = audio.sampleRate ? `${audio.sampleRate / 1000} kHz` : "";
  return (
    ` · audio ${audio.state} ${audio.codec ?? ""} ${rate}` +
    ` buffer ${ms(audio.bufferedMs)} ms skew ${ms(audio.skewMs)} ms underruns ${audio.underruns}`
  );
}

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
  showAudio(stats.audio);
  if (!statsEl) return;
  const latency = stats.latencyMs;
  const resolution = stats.width ? `${stats.width}×${stats.height}` : "–";
  statsEl.textContent =
    `latency ${ms(latency.last)} / ${ms(latency.p50)} / ${ms(latency.p95)} ms (last/p50/p95)` +
    ` · ${fps.toFixed(0)} fps · dropped ${stats.framesDropped}` +
    ` · ${stats.codec ?? "–"} ${resolution}` +
    ` · decode ${ms(stats.decodeMs.p50)} / ${ms(stats.decodeMs.p95)} ms · behind ${ms(stats.lagMs)} ms` +
    audioLine(stats.audio);
}

try {
  showState("connecting");
  await init();
  window.viewer = new Viewer(canvas, { url, name, syncProbe, audioTransport, sink });
  update();
  setInterval(update, 250);
} catch (err) {
  showState("error", `The viewer failed to start: ${err?.message ?? err}`);
}
