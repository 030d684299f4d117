// Media: two peer connections per participant (DESIGN.md). The publisher connection ("pub") is
// offered by this page and carries what it sends; the subscriber connection ("sub") is offered
// by the server and carries everyone else, re-offered as tracks come and go.

const GATHER_TIMEOUT = 3000;
// A connection that stays 'disconnected' this long is given up and rebuilt. Browsers say
// 'disconnected' when one consent check (every ~5 s) goes unanswered, which a busy media server
// or a busy tablet causes without anything being broken: a rebuild then costs everyone in the
// call a renegotiation. A real network change (Wi-Fi to mobile) still recovers in about 10 s.
const DISCONNECTED_GRACE = 10000;
// A publisher offer unanswered this long means the media server is gone (it crashed, or its
// messages are lost): start over, so that signalling can place the room on a live one.
const ANSWER_TIMEOUT = 10000;
// A connection that has not connected this long after the offer and answer are exchanged will
// not: e.g. a network that lets no media through (it stays at 'new' or 'connecting'). Counted
// from the exchange, not from the offer, so that a slow media server is not taken for a block.
export const CONNECT_TIMEOUT = 8000;
// With others in the call, our publisher offer waits up to this long for the first
// subscriber offer to be answered: Chromium's createOffer holds the page's thread (about
// 40 ms in the join benchmark), and the others' picture, whose offer the server sends on
// joining, would wait behind it.
const PUBLISH_AFTER_SUB_MAX = 250;

/** Whether gathering ended without a single candidate: nothing can connect (e.g. relay only
 * and the TURN server refused us or cannot be reached). */
function gatheredNothing(pc) {
  return pc.iceGatheringState === 'complete' && !/\r\na=candidate:/.test(pc.localDescription.sdp);
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve();
    };
    // Candidates go in the SDP; a slow interface must not hold the call back for long.
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    }, GATHER_TIMEOUT);
    pc.addEventListener('icegatheringstatechange', done);
  });
}

/**
 * Events: 'track' (detail: {mid, participant, source, track}), 'trackgone' (detail: {mid,
 * participant, source}), 'failed' (once: a connection broke for good or did not connect in
 * time; detail: {pc, reason, history} where history lists its ICE states; the page tells the
 * room and reconnects), 'stalled' (same detail: still checking when it should have connected;
 * the page tells the room and waits), 'connected' (every connection made so far is connected).
 */
/**
 * The camera's simulcast layers for a picture `height` pixels high, smallest first (rid, size
 * divisor, bitrate cap), or null for one layer. Chromium sends at most two layers below 540
 * lines and one below 360 (it leaves out the last ones listed), so the list starts at the
 * size that still makes sense: the full picture is always sent.
 */
const SIMULCAST_SCALES = { q: 4, h: 2, f: 1 };

export function simulcastLayers(height) {
  if (!height || height < 360) return null;
  const layers = [
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1200000 },
  ];
  if (height >= 540) layers.unshift({ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 });
  return layers;
}

export class MediaSession extends EventTarget {
  /**
   * @param {object} options
   * @param {(msg: object) => boolean} options.send  sends a room-socket message
   * @param {RTCIceServer[]} options.iceServers
   * @param {'all'|'relay'} [options.iceTransportPolicy]  'relay': TURN only
   * @param {object|null} options.transforms  end-to-end encryption hooks (see e2ee.js)
   */
  constructor({ send, iceServers, iceTransportPolicy, transforms, simulcast, cameraHeight }) {
    super();
    this.send = send;
    // Send the camera as three layers (full, half and quarter size): the media server gives
    // each of the others the best one their connection carries.
    this.simulcast = Boolean(simulcast);
    this.cameraHeight = cameraHeight || 0; // what the page asks the camera for
    this.iceServers = iceServers || [];
    this.iceTransportPolicy = iceTransportPolicy === 'relay' ? 'relay' : 'all';
    this.transforms = transforms || null;
    this.pub = null;
    this.sub = null;
    this.lastAnswer = null; // {seq, offer, sdp}: the subscriber offer answered last
    this.tx = { audio: null, video: null, screen: null };
    this.tracks = {}; // mid -> {participant, source} from the latest sub offer
    this.assigned = new Map(); // mid -> "participant:source" announced as a 'track' event
    this.pendingAnswer = null;
    // Each connection negotiates one exchange at a time, the two side by side: a subscriber
    // offer that comes while our publisher offer gathers candidates and waits for its answer
    // is answered at once (after it, a join's first remote picture came ~200 ms later).
    this.pubChain = Promise.resolve();
    this.subChain = Promise.resolve();
    this.answeredSub = false; // a subscriber answer was sent
    this.subAnswered = new Promise((resolve) => { this.markSubAnswered = resolve; });
    this.closed = false;
    this.failTimers = new Map();
    this.connectTimers = new Map();
    this.history = new Map(); // pc -> its ICE connection states so far
    this.failed = false;
  }

  config() {
    return {
      iceServers: this.iceServers,
      iceTransportPolicy: this.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      ...(this.transforms ? this.transforms.pcConfig() : {}),
    };
  }

  /**
   * Open the publisher connection with our camera and microphone (either may be null). With
   * `othersPresent`, its offer first waits (at most PUBLISH_AFTER_SUB_MAX) for the answer to
   * the first subscriber offer: a joiner sees the others sooner, they see the joiner a few
   * tens of milliseconds later.
   */
  start(audioTrack, videoTrack, { othersPresent = false } = {}) {
    this.pub = new RTCPeerConnection(this.config());
    this.watch(this.pub, 'pub');
    this.tx.audio = this.addSender(audioTrack, 'audio', 'audio');
    this.tx.video = this.addSender(videoTrack, 'video', 'video');
    if (othersPresent && !this.answeredSub) {
      const waited = new Promise((resolve) => setTimeout(resolve, PUBLISH_AFTER_SUB_MAX));
      this.pubChain = Promise.race([this.subAnswered, waited]);
    }
    return this.negotiate();
  }

  /**
   * Send our camera picture scaled down by `scale` (1, 2, 4: a half, a quarter of the width
   * and height): the encoder then needs a fraction of the bitrate. Sound is untouched.
   */
  async scaleVideo(scale) {
    const sender = this.tx.video && this.tx.video.sender;
    if (!sender || !sender.track) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) return;
    if (params.encodings.length > 1) {
      // Simulcast: leave out the layers larger than the scale asked for (the smallest stays).
      for (const encoding of params.encodings) {
        encoding.active = (encoding.scaleResolutionDownBy || 1) >= scale ||
          encoding === params.encodings[0];
      }
    } else {
      for (const encoding of params.encodings) encoding.scaleResolutionDownBy = scale;
    }
    await sender.setParameters(params);
  }

  addSender(track, kind, source) {
    const init = { direction: 'sendonly' };
    if (this.simulcast && source === 'video') {
      // The camera may not be there yet: then the size asked for decides (fitLayers mends
      // it when the camera turns out smaller).
      const height = (track && track.getSettings().height) || this.cameraHeight;
      const layers = simulcastLayers(height);
      if (layers) init.sendEncodings = layers;
    }
    const transceiver = this.pub.addTransceiver(track || kind, init);
    if (this.transforms) this.transforms.attachSender(transceiver.sender, kind, source);
    return transceiver;
  }

  watch(pc, name) {
    pc.name = name;
    this.history.set(pc, [pc.iceConnectionState]);
    pc.addEventListener('iceconnectionstatechange', () => {
      const states = this.history.get(pc);
      if (states.length < 31) states.push(pc.iceConnectionState);
    });
    pc.addEventListener('connectionstatechange', () => {
      const state = pc.connectionState;
      clearTimeout(this.failTimers.get(pc));
      if (state === 'connected') {
        clearTimeout(this.connectTimers.get(pc));
        if (this.isConnected()) this.dispatchEvent(new Event('connected'));
      } else if (state === 'failed') {
        this.fail(pc, 'failed');
      } else if (state === 'disconnected') {
        this.failTimers.set(pc, setTimeout(() => {
          if (pc.connectionState === 'disconnected') this.fail(pc, 'disconnected');
        }, DISCONNECTED_GRACE));
      }
    });
  }

  /** Whether every connection made so far is connected (media gets through). */
  isConnected() {
    return [this.pub, this.sub].every((pc) => !pc || pc.connectionState === 'connected');
  }

  /**
   * Expect `pc` to connect within CONNECT_TIMEOUT of the offer/answer exchange (once). A
   * connection still checking then is reported ('stalled': the page says so) and given one
   * more CONNECT_TIMEOUT before it counts as failed: a slow one may still make it.
   */
  expectConnection(pc) {
    if (pc.connectionState === 'connected' || this.connectTimers.has(pc)) return;
    const check = (patient) => {
      if (pc.connectionState === 'connected') return;
      if (patient && pc.connectionState === 'connecting') {
        this.dispatchEvent(new CustomEvent('stalled', { detail: this.detail(pc, 'timeout') }));
        this.connectTimers.set(pc, setTimeout(() => check(false), CONNECT_TIMEOUT));
      } else {
        this.fail(pc, 'timeout');
      }
    };
    this.connectTimers.set(pc, setTimeout(() => check(true), CONNECT_TIMEOUT));
  }

  detail(pc, reason) {
    return {
      pc: pc ? pc.name : null,
      reason,
      history: pc ? [...this.history.get(pc), pc.connectionState] : [],
    };
  }

  fail(pc, reason) {
    if (this.closed || this.failed) return;
    this.failed = true;
    this.dispatchEvent(new CustomEvent('failed', { detail: this.detail(pc, reason) }));
  }

  /** Offer the publisher connection again (after adding a track); calls are queued. */
  negotiate() {
    this.pubChain = this.pubChain.then(() => this.offerPub()).catch((error) => {
      console.warn('publisher negotiation failed', error);
    });
    return this.pubChain;
  }

  async offerPub() {
    if (this.closed) return;
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(offer);
    await waitForGathering(this.pub);
    if (gatheredNothing(this.pub)) {
      this.fail(this.pub, 'no_candidates');
      return;
    }
    const sources = {};
    for (const [source, transceiver] of Object.entries(this.tx)) {
      if (transceiver && transceiver.mid !== null) sources[transceiver.mid] = source;
    }
    const answered = new Promise((resolve) => { this.pendingAnswer = resolve; });
    this.send({ type: 'offer', pc: 'pub', sdp: this.pub.localDescription.sdp, sources });
    const timer = setTimeout(() => {
      const resolve = this.pendingAnswer;
      if (!resolve) return;
      this.pendingAnswer = null;
      resolve('');
      this.fail(this.pub, 'answer');
    }, ANSWER_TIMEOUT);
    const sdp = await answered;
    clearTimeout(timer);
    if (!this.closed && sdp) {
      await this.pub.setRemoteDescription({ type: 'answer', sdp });
      this.expectConnection(this.pub);
    }
  }

  /** Act on a media message from the room socket. */
  async handle(msg) {
    if (this.closed) return;
    if (msg.type === 'answer' && msg.pc === 'pub' && this.pendingAnswer) {
      const resolve = this.pendingAnswer;
      this.pendingAnswer = null;
      resolve(msg.sdp);
    } else if (msg.type === 'offer' && msg.pc === 'sub') {
      this.subChain = this.subChain.then(() => this.answerSub(msg)).catch((error) => {
        console.warn('subscriber negotiation failed', error);
      });
    } else if (msg.type === 'candidate') {
      const pc = msg.pc === 'pub' ? this.pub : this.sub;
      if (pc && pc.remoteDescription) {
        await pc.addIceCandidate(msg.candidate || null).catch(() => {});
      }
    }
  }

  async answerSub(msg) {
    if (!this.sub) {
      this.sub = new RTCPeerConnection(this.config());
      this.lastAnswer = null;
      this.watch(this.sub, 'sub');
    }
    const seq = Number.isInteger(msg.seq) ? msg.seq : undefined;
    const last = this.lastAnswer;
    if (last && seq !== undefined && last.seq === seq && last.offer === msg.sdp) {
      // The server sent this offer again (our answer was slow or lost): the same answer, not
      // a new negotiation, which the server would no longer expect.
      this.send({ type: 'answer', pc: 'sub', sdp: last.sdp, seq });
      return;
    }
    this.tracks = msg.tracks || {};
    await this.sub.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    this.reconcile();
    const answer = await this.sub.createAnswer();
    await this.sub.setLocalDescription(answer);
    await waitForGathering(this.sub);
    if (gatheredNothing(this.sub)) {
      this.fail(this.sub, 'no_candidates');
      return;
    }
    const sdp = this.sub.localDescription.sdp;
    this.lastAnswer = { seq, offer: msg.sdp, sdp };
    this.send(seq === undefined ? { type: 'answer', pc: 'sub', sdp }
      : { type: 'answer', pc: 'sub', sdp, seq });
    this.answeredSub = true;
    this.markSubAnswered();
    this.expectConnection(this.sub);
  }

  /** Match the subscriber's transceivers to the participants and sources the server named. */
  reconcile() {
    const seen = new Set();
    for (const transceiver of this.sub.getTransceivers()) {
      const mid = transceiver.mid;
      const info = mid !== null ? this.tracks[mid] : undefined;
      if (!info) continue;
      seen.add(mid);
      const key = `${info.participant}:${info.source}`;
      if (this.assigned.get(mid) === key) continue;
      const previous = this.assigned.get(mid);
      if (previous) this.emitGone(mid, previous);
      this.assigned.set(mid, key);
      const { track } = transceiver.receiver;
      if (this.transforms) {
        this.transforms.attachReceiver(transceiver.receiver, track.kind, mid, info.participant);
      }
      this.dispatchEvent(new CustomEvent('track', {
        detail: { mid, participant: info.participant, source: info.source, track },
      }));
    }
    for (const [mid, key] of [...this.assigned]) {
      if (!seen.has(mid)) {
        this.assigned.delete(mid);
        this.emitGone(mid, key);
      }
    }
  }

  emitGone(mid, key) {
    const [participant, source] = key.split(':');
    this.dispatchEvent(new CustomEvent('trackgone', { detail: { mid, participant, source } }));
  }

  /** Use another camera or microphone track without renegotiating. */
  async replaceTrack(kind, track) {
    const transceiver = this.tx[kind];
    if (!transceiver) return;
    await transceiver.sender.replaceTrack(track);
    if (kind === 'video' && track) await this.fitLayers(transceiver.sender, track);
  }

  /**
   * Simulcast layers planned for a larger camera than the one there is: Chromium sends fewer
   * layers for a small picture (the first ones listed), so the first layer is made full size
   * and the rest left out; for a large enough camera the planned sizes come back.
   */
  async fitLayers(sender, track) {
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length < 2) return;
    const planned = simulcastLayers(track.getSettings().height);
    const fits = planned && planned.length >= params.encodings.length;
    params.encodings.forEach((encoding, i) => {
      const layer = SIMULCAST_SCALES[encoding.rid] || 1;
      encoding.scaleResolutionDownBy = fits ? layer : (i === 0 ? 1 : layer);
      encoding.active = fits || i === 0;
    });
    await sender.setParameters(params).catch(() => {});
  }

  /**
   * Start sending a screen (desktop browsers): adds a second video on first use; later shares
   * reuse that transceiver (sendonly again, the new track) and offer again, so the server
   * publishes the screen anew and re-offers it to the others.
   */
  async shareScreen(track) {
    const transceiver = this.tx.screen;
    if (transceiver) {
      transceiver.direction = 'sendonly';
      await transceiver.sender.replaceTrack(track);
    } else {
      this.tx.screen = this.addSender(track, 'video', 'screen');
    }
    await this.negotiate();
  }

  /**
   * Stop sending the screen: the m-line goes inactive and the publisher connection is offered
   * again, so the server drops the publication and re-offers the others without it.
   */
  async stopScreen() {
    const transceiver = this.tx.screen;
    if (!transceiver || this.closed) return;
    transceiver.direction = 'inactive';
    await transceiver.sender.replaceTrack(null).catch(() => {});
    await this.negotiate();
  }

  /** The receivers of the subscriber connection, for audio levels and stats. */
  receivers() {
    return this.sub ? this.sub.getReceivers() : [];
  }

  close() {
    this.closed = true;
    for (const timer of this.failTimers.values()) clearTimeout(timer);
    for (const timer of this.connectTimers.values()) clearTimeout(timer);
    if (this.pendingAnswer) this.pendingAnswer('');
    for (const pc of [this.pub, this.sub]) {
      if (pc) pc.close();
    }
    for (const [mid, key] of this.assigned) this.emitGone(mid, key);
    this.assigned.clear();
  }
}
