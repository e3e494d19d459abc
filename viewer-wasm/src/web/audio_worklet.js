// The viewer's AudioWorklet: plays the sample ring the page writes (viewer-wasm/src/audio/ring.rs).
// It mirrors `Reader::quantum` there step for step and does nothing else, so the audio thread
// never waits on the page. Two transports for the same ring:
// - shared: the ring lives in a SharedArrayBuffer (cross-origin isolated pages): header and
//   samples are read and written in place, with Atomics for the counters;
// - message: the page posts chunks, appended here to a private ring, and the counters are
//   posted back every few quanta.
// Header (Int32): 0 write, 1 read, 2 underruns, 3 context frame − read, 4 frames played.
const WRITE = 0, READ = 1, UNDERRUNS = 2, OFFSET = 3, PLAYED = 4, HEADER = 8;
const REPORT_EVERY = 4;
// Running dry, the last sample fades to silence (~1 ms) instead of stepping to 0: no click.
const FADE = 0.98;
// Sync probe (tests): a beep is a sound reaching LOUD after at least QUIET_FRAMES of
// near-silence; its onset is where it first rose above SOFT.
const LOUD = 0.2, SOFT = 0.05, QUIET_FRAMES = 4800;

class RingReader extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sab, capacity, channels, probe } = options.processorOptions;
    this.capacity = capacity;
    this.channels = channels;
    this.probe = probe;
    this.started = false;
    this.quiet = 0;
    this.rise = null;
    this.last = new Float32Array(channels);
    this.quanta = 0;
    if (sab) {
      this.header = new Int32Array(sab, 0, HEADER);
      this.data = new Float32Array(sab, HEADER * 4, capacity * channels);
      this.shared = true;
    } else {
      this.header = new Int32Array(HEADER);
      this.data = new Float32Array(capacity * channels);
      this.shared = false;
      this.port.onmessage = (event) => this.append(event.data);
    }
  }

  // Message transport: store a posted chunk (interleaved) at the write counter, dropping what
  // does not fit (the page's `Ring::write` does the same on the shared transport).
  append(samples) {
    const header = this.header, channels = this.channels, capacity = this.capacity;
    let write = header[WRITE] >>> 0;
    let filled = (write - (header[READ] >>> 0)) >>> 0;
    if (filled > capacity) filled = 0;
    const frames = Math.min(samples.length / channels, capacity - filled);
    for (let i = 0; i < frames; i++) {
      const at = ((write + i) & (capacity - 1)) * channels;
      for (let c = 0; c < channels; c++) this.data[at + c] = samples[i * channels + c];
    }
    header[WRITE] = (write + frames) | 0;
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const wanted = out[0].length;
    const header = this.header, channels = this.channels, capacity = this.capacity;
    const write = (this.shared ? Atomics.load(header, WRITE) : header[WRITE]) >>> 0;
    const read = header[READ] >>> 0;
    let filled = (write - read) >>> 0;
    if (filled > capacity) filled = 0;
    const take = Math.min(wanted, filled);
    for (let i = 0; i < take; i++) {
      const at = ((read + i) & (capacity - 1)) * channels;
      for (let c = 0; c < out.length; c++) out[c][i] = this.data[at + Math.min(c, channels - 1)];
    }
    for (let c = 0; c < out.length; c++) {
      const last = this.last, k = Math.min(c, channels - 1);
      if (take > 0) last[k] = out[c][take - 1];
      for (let i = take; i < wanted; i++) out[c][i] = last[k] *= FADE;
    }
    if (take > 0) this.started = true;
    if (take < wanted && this.started) header[UNDERRUNS] = (header[UNDERRUNS] + 1) | 0;
    const next = (read + take) >>> 0;
    header[PLAYED] = (header[PLAYED] + take) | 0;
    header[OFFSET] = (currentFrame + wanted - next) | 0;
    if (this.shared) Atomics.store(header, READ, next | 0);
    else header[READ] = next | 0;
    if (this.probe) this.listen(out[0], take);
    if (!this.shared && ++this.quanta % REPORT_EVERY === 0) {
      this.port.postMessage({ counters: Int32Array.from(header) });
    }
    return true;
  }

  // Report the context frame of each beep onset to the page.
  listen(samples, frames) {
    for (let i = 0; i < frames; i++) {
      const level = Math.abs(samples[i]);
      if (level < SOFT) {
        this.quiet++;
        continue;
      }
      if (this.quiet >= QUIET_FRAMES) this.rise = currentFrame + i;
      this.quiet = 0;
      if (level >= LOUD && this.rise !== null) {
        this.port.postMessage({ onset: this.rise });
        this.rise = null;
      }
    }
  }
}

registerProcessor("viewer-ring-reader", RingReader);
