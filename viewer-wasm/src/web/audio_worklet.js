// The viewer's AudioWorklet: plays the sample ring the page writes (viewer-wasm/src/audio/ring.rs).
// It mirrors `Reader::output` there step for step, and where the ring runs dry after audio has
// started, `Concealer` (viewer-wasm/src/audio/conceal.rs) plays on; it does nothing else, so the
// audio thread never waits on the page. Two transports for the same ring:
// - shared: the ring lives in a SharedArrayBuffer (cross-origin isolated pages): header and
//   samples are read and written in place, with Atomics for the counters;
// - message: the page posts chunks, appended here to a private ring, and the counters (the
//   whole header) are posted back every few quanta (`reportEvery`, set by audio_output.rs).
// Header (Int32, counters wrap): 0 write, 1 read, 2 underruns (quanta that ran dry), 3 context
// frame − read, 4 frames played, 5 frames concealed, 6 concealment events, 7 unused.
const WRITE = 0, READ = 1, UNDERRUNS = 2, OFFSET = 3, PLAYED = 4, CONCEALED = 5, CONCEALMENTS = 6;
const HEADER = 8;
// Concealment (conceal.rs documents them; its tests check that these are its constants).
const WINDOW_S = 0.005, MIN_PERIOD_S = 0.0025, MAX_PERIOD_S = 0.015, FALLBACK_PERIOD_S = 0.01;
const MIN_CORRELATION = 0.5, PERIOD_TOLERANCE = 0.1;
const CROSSFADE_S = 0.0025, HALF_GAIN_S = 0.02, SILENT_GAIN = 0.01;
// Sync probe (tests): a beep is a sound reaching LOUD after at least QUIET_FRAMES of
// near-silence; its onset is where it first rose above SOFT.
const LOUD = 0.2, SOFT = 0.05, QUIET_FRAMES = 4800;

// Repeat-and-fade of the last pitch period where the ring runs dry, crossfaded in and out: the
// mirror of `Concealer` in conceal.rs, in the same arithmetic (doubles, samples as floats).
class Concealer {
  constructor(rate, channels) {
    const frames = (seconds) => Math.max(1, Math.round(rate * seconds));
    this.channels = channels;
    this.window = frames(WINDOW_S);
    this.minPeriod = frames(MIN_PERIOD_S);
    this.maxPeriod = frames(MAX_PERIOD_S);
    this.fallback = frames(FALLBACK_PERIOD_S);
    this.crossfade = frames(CROSSFADE_S);
    const half = frames(HALF_GAIN_S);
    this.decay = Math.pow(0.5, 2 / (half * (half - 1)));
    this.length = this.window + this.maxPeriod;
    this.history = new Float32Array(this.length * channels);
    this.at = 0;
    this.mono = new Float64Array(this.length);
    this.correlation = new Float64Array(this.maxPeriod + 1);
    this.cycle = new Float32Array(this.maxPeriod * channels);
    this.period = 0;
    this.offset = new Float64Array(channels);
    this.concealed = 0;
    this.gain = 0;
    this.step = 0;
    this.resumed = 0;
    this.scratch = new Float32Array(channels);
  }

  // A frame from the ring is played: crossfaded in from the concealment it ends, if any.
  play(frame) {
    if (this.period > 0) {
      const weight = (this.resumed + 1) / this.crossfade, scratch = this.scratch;
      this.next(scratch);
      for (let c = 0; c < this.channels; c++) {
        frame[c] = scratch[c] * (1 - weight) + frame[c] * weight;
      }
      this.resumed++;
      if (this.resumed === this.crossfade) this.period = 0;
    }
    this.remember(frame);
  }

  // The ring is dry: write the concealment's next frame to `frame`.
  conceal(frame) {
    if (this.period === 0 || this.resumed > 0) this.start();
    this.next(frame);
    this.remember(frame);
  }

  remember(frame) {
    const at = this.at * this.channels;
    for (let c = 0; c < this.channels; c++) this.history[at + c] = frame[c];
    this.at = (this.at + 1) % this.length;
  }

  frameAt(index) {
    return ((this.at + index) % this.length) * this.channels;
  }

  // A concealment starts: find the period, keep it, note the mismatch at its start.
  start() {
    const length = this.length, channels = this.channels, history = this.history;
    for (let i = 0; i < length; i++) {
      const at = this.frameAt(i);
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += history[at + c];
      this.mono[i] = sum;
    }
    const period = this.pitchPeriod() || this.fallback;
    for (let i = 0; i < period; i++) {
      const from = this.frameAt(length - period + i), to = i * channels;
      for (let c = 0; c < channels; c++) this.cycle[to + c] = history[from + c];
    }
    const last = this.frameAt(length - 1), before = this.frameAt(length - 1 - period);
    for (let c = 0; c < channels; c++) this.offset[c] = history[last + c] - history[before + c];
    this.period = period;
    this.concealed = 0;
    this.gain = 1;
    this.step = 1;
    this.resumed = 0;
  }

  // The concealment's next frame.
  next(frame) {
    if (this.gain < SILENT_GAIN) {
      frame.fill(0);
      return;
    }
    const weight = this.concealed < this.crossfade ? (this.concealed + 1) / this.crossfade : 1;
    const at = (this.concealed % this.period) * this.channels;
    for (let c = 0; c < this.channels; c++) {
      frame[c] = this.gain * (this.cycle[at + c] + this.offset[c] * (1 - weight));
    }
    this.gain *= this.step;
    this.step *= this.decay;
    this.concealed++;
  }

  // `pitch_period` in conceal.rs over the history summed over channels, 0 for none.
  pitchPeriod() {
    const mono = this.mono, correlation = this.correlation, window = this.window;
    const min = this.minPeriod, max = this.maxPeriod, end = mono.length;
    let energy = 0;
    for (let i = end - window; i < end; i++) energy += mono[i] * mono[i];
    for (let lag = min; lag <= max; lag++) {
      let product = 0, power = 0;
      for (let i = end - window; i < end; i++) {
        const then = mono[i - lag];
        product += mono[i] * then;
        power += then * then;
      }
      const norm = Math.sqrt(energy * power);
      correlation[lag] = norm > 0 ? product / norm : 0;
    }
    const peak = (lag) =>
      correlation[lag] >= correlation[lag - 1] && correlation[lag] >= correlation[lag + 1];
    let best = -Infinity;
    for (let lag = min + 1; lag < max; lag++) {
      if (peak(lag) && correlation[lag] > best) best = correlation[lag];
    }
    if (best < MIN_CORRELATION) return 0;
    for (let lag = min + 1; lag < max; lag++) {
      if (peak(lag) && correlation[lag] >= best - PERIOD_TOLERANCE) return lag;
    }
    return 0;
  }
}

class RingReader extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sab, capacity, channels, probe, reportEvery } = options.processorOptions;
    this.reportEvery = reportEvery;
    this.capacity = capacity;
    this.channels = channels;
    this.probe = probe;
    this.started = false;
    this.quiet = 0;
    this.rise = null;
    this.dry = false;
    this.frame = new Float32Array(channels);
    this.concealer = new Concealer(sampleRate, channels);
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
    if (take > 0) {
      this.started = true;
      this.dry = false;
    }
    const frame = this.frame, concealer = this.concealer;
    for (let i = 0; i < wanted; i++) {
      if (i < take) {
        const at = ((read + i) & (capacity - 1)) * channels;
        for (let c = 0; c < channels; c++) frame[c] = this.data[at + c];
        concealer.play(frame);
      } else if (this.started) {
        concealer.conceal(frame);
      } else {
        frame.fill(0);
      }
      for (let c = 0; c < out.length; c++) out[c][i] = frame[Math.min(c, channels - 1)];
    }
    const dry = wanted - take;
    if (dry > 0 && this.started) {
      header[UNDERRUNS] = (header[UNDERRUNS] + 1) | 0;
      header[CONCEALED] = (header[CONCEALED] + dry) | 0;
      if (!this.dry) header[CONCEALMENTS] = (header[CONCEALMENTS] + 1) | 0;
      this.dry = true;
    }
    const next = (read + take) >>> 0;
    header[PLAYED] = (header[PLAYED] + take) | 0;
    header[OFFSET] = (currentFrame + wanted - next) | 0;
    if (this.shared) Atomics.store(header, READ, next | 0);
    else header[READ] = next | 0;
    if (this.probe) this.listen(out[0], take);
    if (!this.shared && ++this.quanta % this.reportEvery === 0) {
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
