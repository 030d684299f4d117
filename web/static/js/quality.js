// Connection quality per participant, from the subscriber connection's statistics: the round
// trip to the media server, the share of their packets lost on the way to us, and the frame
// rate of their camera picture. Pure rating apart from the polling, so it can be checked alone.

const INTERVAL = 2000; // ms between samples

// Beyond any of these a connection is weak: speech stutters or the picture freezes.
export const WEAK = { rtt: 0.3, loss: 0.05, fps: 10 };

/** 'good', 'weak', or 'unknown' (no figures yet) for {rtt (s), loss (0..1), fps}. */
export function rate({ rtt = null, loss = null, fps = null }) {
  if (rtt === null && loss === null && fps === null) return 'unknown';
  const weak = (rtt !== null && rtt > WEAK.rtt) || (loss !== null && loss > WEAK.loss) ||
    (fps !== null && fps < WEAK.fps);
  return weak ? 'weak' : 'good';
}

/**
 * One sample of `pc`'s statistics: participant -> {rtt, loss, fps}. `tracks` maps mids to
 * {participant, source}; `previous` keeps packet counters between samples (loss is measured
 * over the interval, not since the start).
 */
export async function sample(pc, tracks, previous) {
  const stats = await pc.getStats();
  let rtt = null;
  for (const s of stats.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' &&
        typeof s.currentRoundTripTime === 'number') rtt = s.currentRoundTripTime;
  }
  const found = new Map();
  for (const s of stats.values()) {
    if (s.type !== 'inbound-rtp' || !s.mid || !tracks[s.mid]) continue;
    const { participant, source } = tracks[s.mid];
    const entry = found.get(participant) || { rtt, loss: null, fps: null };
    const before = previous.get(s.id);
    previous.set(s.id, { lost: s.packetsLost || 0, received: s.packetsReceived || 0 });
    if (before) {
      const lost = Math.max(0, (s.packetsLost || 0) - before.lost);
      const received = Math.max(0, (s.packetsReceived || 0) - before.received);
      if (lost + received > 0) entry.loss = Math.max(entry.loss || 0, lost / (lost + received));
    }
    if (source === 'video' && typeof s.framesPerSecond === 'number') entry.fps = s.framesPerSecond;
    found.set(participant, entry);
  }
  return found;
}

/**
 * Our own uplink, from the publisher connection's statistics: the round trip and the share
 * of our packets the media server reports lost (its receiver reports), and whether the
 * browser's encoder is held back by too little bandwidth. {rtt, loss, limited}.
 */
export async function sampleUplink(pc) {
  const stats = await pc.getStats();
  const out = { rtt: null, loss: null, limited: false };
  for (const s of stats.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' &&
        typeof s.currentRoundTripTime === 'number') out.rtt = s.currentRoundTripTime;
    if (s.type === 'remote-inbound-rtp' && typeof s.fractionLost === 'number') {
      out.loss = Math.max(out.loss || 0, s.fractionLost);
    }
    if (s.type === 'outbound-rtp' && s.kind === 'video' && s.qualityLimitationReason === 'bandwidth') {
      out.limited = true;
    }
  }
  return out;
}

// How far the picture we send is scaled down (1: as the camera gives it), one step at a time.
export const SCALES = [1, 2, 4];
const WEAK_SAMPLES_TO_DROP = 2; // 4 s of a weak uplink: send a smaller picture
const GOOD_SAMPLES_TO_RAISE = 8; // 16 s of a good one: try the next larger picture again

/**
 * Decides the size of the picture we send from samples of our uplink: smaller while it is
 * weak (so that sound and a moving picture still get through), larger again, one step at a
 * time, once it has been good for a while. Pure: no timers, no connections.
 */
export class UplinkAdapter {
  constructor() {
    this.step = 0;
    this.weakRun = 0;
    this.goodRun = 0;
  }

  get scale() {
    return SCALES[this.step];
  }

  /** Take one sample ({rtt, loss, limited}); returns the scale to send at. */
  observe({ rtt = null, loss = null, limited = false }) {
    const weak = limited || rate({ rtt, loss }) === 'weak';
    this.weakRun = weak ? this.weakRun + 1 : 0;
    this.goodRun = weak ? 0 : this.goodRun + 1;
    if (this.weakRun >= WEAK_SAMPLES_TO_DROP && this.step < SCALES.length - 1) {
      this.step += 1;
      this.weakRun = 0;
    } else if (this.goodRun >= GOOD_SAMPLES_TO_RAISE && this.step > 0) {
      this.step -= 1;
      this.goodRun = 0;
    }
    return this.scale;
  }
}

/**
 * Samples the media session every two seconds: the subscriber connection for how each
 * other participant reaches us, the publisher connection for how we reach the server
 * (`uplink` gets {weak, scale} and the session sends a smaller picture while it is weak).
 */
export class QualityWatch {
  /**
   * @param {() => object|null} media  the current MediaSession (it changes on reconnects)
   * @param {(participant: string, figures: object) => void} report
   * @param {(state: {weak: boolean, scale: number}) => void} [uplink]
   */
  constructor(media, report, uplink = () => {}) {
    this.media = media;
    this.report = report;
    this.uplink = uplink;
    this.previous = new Map();
    this.adapter = new UplinkAdapter();
    this.session = null;
    this.timer = setInterval(() => this.tick(), INTERVAL);
  }

  async tick() {
    const media = this.media();
    if (media !== this.session) {
      // A new session (a reconnect) starts with a full-size picture and fresh counters.
      this.session = media;
      this.adapter = new UplinkAdapter();
      this.uplink({ weak: false, scale: 1 });
    }
    if (!media) return;
    try {
      if (media.sub && media.sub.connectionState === 'connected') {
        const found = await sample(media.sub, media.tracks, this.previous);
        for (const [participant, figures] of found) this.report(participant, figures);
      }
      if (media.pub && media.pub.connectionState === 'connected') {
        const figures = await sampleUplink(media.pub);
        const before = this.adapter.scale;
        const scale = this.adapter.observe(figures);
        if (scale !== before) await media.scaleVideo(scale);
        this.uplink({ weak: scale > 1, scale });
      }
    } catch (error) {
      // A connection closed between the check and getStats: the next tick uses the new one.
    }
  }

  stop() {
    clearInterval(this.timer);
  }
}
