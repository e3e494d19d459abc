// Starts the wasm viewer for the page it is loaded in (index.html or embed.html) and keeps
// the state badge, the sound controls and the stats line current.
//
// Where to dial comes from the relay's /viewer.json, on this page's origin:
// {"relayPort": 4443, "relayPath": "anon", "pinCertificate": true, "httpsPort": 8443} and, for a
// relay on this machine only, "relayHost": "127.0.0.1" (Chromium dials localhost as ::1 only). The
// relay is then https://<relayHost or this host>:<relayPort>/<relayPath>, its self-signed
// certificate pinned (when
// pinCertificate) by the hash this origin serves at /certificate.sha256. Without /viewer.json the
// relay is http://<this host>:4443/anon, whose own /certificate.sha256 is fetched.
// WebTransport exists only in secure contexts: a page opened over plain http:// from another
// machine does not start the viewer but links to its https:// twin (id "secure-link") when
// httpsPort says where that is.
//
// Parameters: ?name= (broadcast, default "screen"), ?url= (relay; wins over /viewer.json, and
// then only ?fingerprint= pins a certificate), ?fingerprint= (URL of the certificate's hex
// SHA-256), #jwt= or ?jwt= (subscribe token, sent as ?jwt= on the relay URL and never shown; the
// fragment is better: browsers never send it to servers), ?probe=1 (note test-source flashes and
// beeps for A/V sync measurements), ?audio=message (feed sound to the audio thread by messages,
// as on pages that are not cross-origin isolated), ?sink=canvas (draw into the canvas even
// where a <video> could show the frames) and ?transport=wt|ws (WebTransport, or MoQ over a
// WebSocket; by default WebTransport where the browser has it).
import init, { Viewer } from "/pkg/viewer.js";

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
const name = params.get("name") || "screen";
const jwt = fragment.get("jwt") || params.get("jwt");
const syncProbe = params.get("probe") === "1";
const audioTransport = params.get("audio") === "message" ? "message" : "auto";
const sink = params.get("sink") === "canvas" ? "canvas" : "auto";
const transport = params.get("transport") || undefined;

// The relay's /viewer.json, or null where it serves none (or something unreadable).
async function relayConfig() {
  try {
    const response = await fetch("/viewer.json", { cache: "no-store" });
    if (!response.ok) return null;
    const config = await response.json();
    return config && typeof config === "object" ? config : null;
  } catch {
    return null;
  }
}

// The relay URL and certificate fingerprint URL (or undefined) to give the viewer.
function relayTarget(config) {
  let url = params.get("url");
  let fingerprint = params.get("fingerprint") || undefined;
  if (!url && config) {
    const port = Number.isInteger(config.relayPort) ? config.relayPort : 4443;
    const path = typeof config.relayPath === "string" ? config.relayPath : "anon";
    const host = typeof config.relayHost === "string" ? config.relayHost : location.hostname;
    url = `https://${host}:${port}/${path.replace(/^\/+/, "")}`;
    if (config.pinCertificate && !fingerprint) fingerprint = `${location.origin}/certificate.sha256`;
  }
  url ||= `http://${location.hostname}:4443/anon`;
  return { url: withToken(url), fingerprint };
}

// `url` carrying the subscribe token as ?jwt=, when there is one.
function withToken(url) {
  if (!jwt) return url;
  try {
    const withJwt = new URL(url);
    withJwt.searchParams.set("jwt", jwt);
    return withJwt.href;
  } catch {
    return url; // not a URL: the viewer says so
  }
}

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

  // While reconnecting, the last error says why; while only the sound plays, why there is no
  // picture.
  const noPicture = stats.state === "live" && stats.videoError;
  // A link that delivers nothing: the last picture stays, and the page says for how long.
  const noData = stats.noDataMs == null ? null : `no data for ${Math.floor(stats.noDataMs / 1000)} s`;
  showState(
    stats.state,
    stats.error ?? noData ?? (noPicture ? `no picture: ${stats.videoError}` : null),
  );
  showAudio(stats.audio);
  if (!statsEl) return;
  const latency = stats.latencyMs;
  const resolution = stats.width ? `${stats.width}×${stats.height}` : "–";
  statsEl.textContent =
    `latency ${ms(latency.last)} / ${ms(latency.p50)} / ${ms(latency.p95)} ms (last/p50/p95)` +
    ` · ${fps.toFixed(0)} fps · dropped ${stats.framesDropped}` +
    ` · ${stats.codec ?? "–"} ${resolution}` +
    ` · decode ${ms(stats.decodeMs.p50)} / ${ms(stats.decodeMs.p95)} ms · behind ${ms(stats.lagMs)} ms` +
    (stats.bandwidthKbps == null ? "" : ` · link ${(stats.bandwidthKbps / 1000).toFixed(1)} Mb/s`) +
    ` · ${stats.transport ?? "–"}` +
    audioLine(stats.audio);
}

// A page that is not a secure context has no WebTransport: say so, with a link to the https://
// page when the relay serves one (the link's text leaves out the query and fragment, which may
// hold the token).
function showInsecure(httpsPort) {
  stateEl.dataset.state = "error";
  stateEl.textContent = "Not a secure page";
  const detail = document.createElement("span");
  detail.className = "detail";
  detail.append(
    "This page was opened over plain http:// from another machine, so the browser offers " +
      "no WebTransport to play it. ",
  );
  if (Number.isInteger(httpsPort)) {
    const secure = `https://${location.hostname}:${httpsPort}`;
    const link = document.createElement("a");
    link.id = "secure-link";
    link.href = `${secure}${location.pathname}${location.search}${location.hash}`;
    link.textContent = `${secure}${location.pathname}`;
    detail.append("Open it over https: ", link);
  } else {
    detail.append("Open it over https://, or on this machine as http://localhost.");
  }
  stateEl.append(detail);
}

try {
  showState("connecting");
  const config = await relayConfig();
  if (!window.isSecureContext) {
    showInsecure(config?.httpsPort);
  } else {
    const { url, fingerprint } = relayTarget(config);
    await init();
    window.viewer = new Viewer(canvas, {
      url,
      fingerprint,
      name,
      syncProbe,
      audioTransport,
      sink,
      transport,
    });
    update();
    setInterval(update, 250);
  }
} catch (err) {
  showState("error", `The viewer failed to start: ${err?.message ?? err}`);
}
