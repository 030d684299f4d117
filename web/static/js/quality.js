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

/** Samples the media session's subscriber connection every two seconds. */
export class QualityWatch {
  /**
   * @param {() => object|null} media  the current MediaSession (it changes on reconnects)
   * @param {(participant: string, figures: object) => void} report
   */
  constructor(media, report) {
    this.media = media;
    this.report = report;
    this.previous = new Map();
    this.timer = setInterval(() => this.tick(), INTERVAL);
  }

  async tick() {
    const media = this.media();
    if (!media || !media.sub || media.sub.connectionState !== 'connected') return;
    try {
      const found = await sample(media.sub, media.tracks, this.previous);
      for (const [participant, figures] of found) this.report(participant, figures);
    } catch (error) {
      // A connection closed between the check and getStats: the next tick uses the new one.
    }
  }

  stop() {
    clearInterval(this.timer);
  }
}
