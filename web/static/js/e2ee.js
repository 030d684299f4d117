// End-to-end encryption of the media: each browser makes its own media key and hands it to the
// others wrapped with a pairwise key from ECDH over the room socket; the server relays wrapped
// keys only. A new key is made when someone leaves. The safety code is derived from everyone's
// public keys, so a server that swapped keys would show different codes on different screens.
//
// Key agreement: X25519 where WebCrypto has it (Chromium, Firefox, Safari 17+), P-256 otherwise.
// Every browser announces a P-256 key, and an X25519 key when it can; a pair of browsers uses
// X25519 when both announced one, else P-256. The safety code covers every announced key, so it
// agrees on all screens in a mixed call, and a server that dropped an X25519 key to force P-256
// would change it.

const WRAP_INFO = 'lippejob e2ee v1 key wrap';
const SWITCH_DELAY = 1000; // ms: let the others receive a new key before frames use it
// ms: a participant whose media key we still lack (or whose frames we cannot decrypt) this
// long is asked again: a key can be lost (a socket that reconnected, a page that had no wrap
// key yet), and its sender would never send it again by itself.
const KEY_RETRY = 3000;
const P256 = { name: 'ECDH', namedCurve: 'P-256' };
const X25519 = { name: 'X25519' };

/** An X25519 key pair, or null where WebCrypto cannot make one. */
async function x25519KeyPair() {
  try {
    return await crypto.subtle.generateKey(X25519, false, ['deriveBits']);
  } catch (error) {
    return null;
  }
}

function b64(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function unb64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Which encoded-transform API this browser has: 'script', 'streams' or null. */
export function transformSupport() {
  if (typeof window.RTCRtpScriptTransform === 'function') return 'script';
  if (window.RTCRtpSender && 'createEncodedStreams' in RTCRtpSender.prototype) return 'streams';
  return null;
}

/**
 * Events: 'change' whenever the encryption state or the safety code may have changed.
 * `state` is 'on', 'pending' or 'off'; `reason` says why it is off.
 */
export class E2EE extends EventTarget {
  constructor(send) {
    super();
    this.send = send;
    this.support = transformSupport();
    // Receivers with a decrypting transform: a subscriber m-line reused for someone who left
    // and came back keeps its transform (encoded streams can be taken only once); only the
    // participant whose keys it uses changes.
    this.decrypting = new WeakSet();
    this.me = null;
    this.worker = null;
    this.prepared = null; // the promise of `prepare`
    this.keyPair = null; // P-256
    this.xKeyPair = null; // X25519, where the browser has it
    this.publicRaw = null; // our announced public keys: {key: P-256, x25519?: X25519}
    this.sendIdx = 0;
    this.sendRaw = null;
    this.publicKeys = new Map(); // participant -> {key: base64 P-256, x25519: base64 or ''}
    this.wrapKeys = new Map(); // participant -> CryptoKey
    this.curves = new Map(); // participant -> 'X25519' or 'P-256': how we agreed on its wrap key
    this.received = new Set(); // participants whose media key we hold
    this.nocap = new Set(); // participants whose browser cannot encrypt
    this.frames = new Map(); // participant -> what the worker saw: encrypted / clear / ...
    this.present = new Set();
    this.code = '';
    this.codeDigest = null;
    // Each sender's messages are handled one after the other, in the order they came: a
    // public-key reply and the media key it wraps arrive about 1 ms apart, and the key needs
    // the wrap key that the reply's handling is still deriving.
    this.queues = new Map(); // participant -> promise of its last message's handling
    this.early = new Map(); // participant -> a media key that came before any wrap key
    this.waitingSince = new Map(); // participant -> when we started to wait for its key
    this.retryTimer = null;
    this.updates = 0; // update() calls so far: only the latest sets the code
  }

  /** Make our key pair and first media key. */
  async init(me) {
    await this.prepare();
    this.setMe(me);
  }

  /** The worker, our key pairs and the first sending key: all that does not need to know who
   * we are, so a page can make them while it asks for its token (once; the same promise). */
  prepare() {
    if (!this.prepared) this.prepared = this.makeKeys();
    return this.prepared;
  }

  async makeKeys() {
    if (!this.support || !window.crypto || !crypto.subtle) {
      this.support = null;
      return;
    }
    this.worker = new Worker('/static/js/e2ee-worker.js');
    this.worker.addEventListener('message', (event) => this.onWorker(event.data));
    this.keyPair = await crypto.subtle.generateKey(P256, false, ['deriveBits']);
    this.xKeyPair = await x25519KeyPair();
    this.publicRaw = {
      key: b64(await crypto.subtle.exportKey('raw', this.keyPair.publicKey)),
      x25519: this.xKeyPair ? b64(await crypto.subtle.exportKey('raw', this.xKeyPair.publicKey)) : '',
    };
    await this.newSendKey(false);
  }

  /** Who we are in this call (after `prepare` settled). */
  setMe(me) {
    this.me = me;
    if (this.publicRaw) this.publicKeys.set(me, this.publicRaw);
  }

  /** Extra RTCPeerConnection settings the transform API needs. */
  pcConfig() {
    return this.support === 'streams' ? { encodedInsertableStreams: true } : {};
  }

  attachSender(sender, kind) {
    this.attach(sender, { op: 'encrypt', kind });
  }

  attachReceiver(receiver, kind, mid, participant) {
    if (!this.worker) return;
    this.worker.postMessage({ type: 'mid', mid, participant });
    if (this.decrypting.has(receiver)) return;
    this.decrypting.add(receiver);
    this.attach(receiver, { op: 'decrypt', kind, mid });
  }

  attach(senderOrReceiver, options) {
    if (!this.worker) return;
    if (this.support === 'script') {
      // eslint-disable-next-line no-undef
      senderOrReceiver.transform = new RTCRtpScriptTransform(this.worker, options);
    } else if (this.support === 'streams') {
      const { readable, writable } = senderOrReceiver.createEncodedStreams();
      this.worker.postMessage({ type: 'streams', readable, writable, options }, [readable, writable]);
    }
  }

  async newSendKey(share) {
    this.sendIdx = (this.sendIdx + 1) % 256;
    this.sendRaw = crypto.getRandomValues(new Uint8Array(16));
    const idx = this.sendIdx;
    const raw = this.sendRaw;
    if (share) {
      await Promise.all([...this.present].filter((p) => p !== this.me)
        .map((p) => this.sendKeyTo(p)));
      setTimeout(() => {
        if (this.sendIdx === idx) this.worker.postMessage({ type: 'sendKey', idx, raw });
      }, SWITCH_DELAY);
    } else {
      this.worker.postMessage({ type: 'sendKey', idx, raw });
    }
  }

  /** Tell the others our public key (after every hello: they may be new). */
  announce() {
    const data = this.support ? this.pubMessage(false) : { kind: 'nocap' };
    this.send({ type: 'e2ee', to: null, data });
  }

  pubMessage(reply) {
    const data = { kind: 'pub', key: this.publicRaw.key };
    if (this.publicRaw.x25519) data.x25519 = this.publicRaw.x25519;
    if (reply) data.reply = true;
    return data;
  }

  /** The set of participants in the call (ourselves included). */
  setPresent(ids) {
    const before = this.present;
    this.present = new Set(ids);
    const gone = [...before].filter((id) => !this.present.has(id) && id !== this.me);
    for (const id of gone) this.forget(id);
    if (gone.length && this.support) this.newSendKey(true);
    this.update();
  }

  forget(id) {
    this.early.delete(id);
    this.waitingSince.delete(id);
    this.publicKeys.delete(id);
    this.wrapKeys.delete(id);
    this.curves.delete(id);
    this.received.delete(id);
    this.nocap.delete(id);
    this.frames.delete(id);
    if (this.worker) this.worker.postMessage({ type: 'forget', participant: id });
  }

  /** A relayed `e2ee` message from another participant; handled after that participant's
   * earlier ones (never concurrently with them). */
  onMessage(from, data) {
    if (!data || typeof data !== 'object' || from === this.me) return Promise.resolve();
    const previous = this.queues.get(from) || Promise.resolve();
    const done = previous.then(() => this.handle(from, data)).catch((error) => {
      console.warn('e2ee: a message could not be handled', from, error);
    });
    this.queues.set(from, done);
    done.then(() => {
      if (this.queues.get(from) === done) this.queues.delete(from);
    });
    return done;
  }

  async handle(from, data) {
    if (data.kind === 'nocap') {
      this.forget(from);
      this.nocap.add(from);
      this.update();
      return;
    }
    if (!this.support) {
      if (data.kind === 'pub' && !data.reply) {
        this.send({ type: 'e2ee', to: from, data: { kind: 'nocap' } });
      }
      return;
    }
    try {
      if (data.kind === 'pub' && typeof data.key === 'string') await this.onPublicKey(from, data);
      else if (data.kind === 'key') await this.onMediaKey(from, data);
    } catch (error) {
      console.warn('e2ee message refused', error);
    }
    this.update();
  }

  async onPublicKey(from, data) {
    this.nocap.delete(from);
    const keys = { key: data.key, x25519: typeof data.x25519 === 'string' ? data.x25519 : '' };
    const known = this.publicKeys.get(from);
    if (!known || known.key !== keys.key || known.x25519 !== keys.x25519) {
      // X25519 when both of us have it; P-256 (which every browser announces) otherwise.
      const curve = keys.x25519 && this.xKeyPair ? 'X25519' : 'P-256';
      const bits = curve === 'X25519'
        ? await this.agree(X25519, keys.x25519, this.xKeyPair.privateKey)
        : await this.agree(P256, keys.key, this.keyPair.privateKey);
      const hkdf = await crypto.subtle.importKey('raw', bits, 'HKDF', false, ['deriveKey']);
      const pair = [this.me, from].sort().join(' ');
      this.wrapKeys.set(from, await crypto.subtle.deriveKey(
        {
          name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32),
          info: new TextEncoder().encode(`${WRAP_INFO} ${curve} ${pair}`),
        },
        hkdf, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'],
      ));
      this.publicKeys.set(from, keys);
      this.curves.set(from, curve);
      this.received.delete(from);
    }
    const early = this.early.get(from);
    if (early) {
      // Its key came first (relayed out of order, or before a reconnect's reply): use it now.
      this.early.delete(from);
      await this.onMediaKey(from, early);
    }
    if (!data.reply) {
      this.send({ type: 'e2ee', to: from, data: this.pubMessage(true) });
    }
    await this.sendKeyTo(from);
  }

  /** 256 shared bits from our private key and their base64 raw public key. */
  async agree(algorithm, theirRaw, privateKey) {
    const theirs = await crypto.subtle.importKey('raw', unb64(theirRaw), algorithm, false, []);
    return crypto.subtle.deriveBits({ name: algorithm.name, public: theirs }, privateKey, 256);
  }

  /** The key agreements in use with the others now, e.g. ['X25519'] or ['P-256', 'X25519']. */
  get agreements() {
    return [...new Set(this.others.map((id) => this.curves.get(id)).filter(Boolean))].sort();
  }

  async sendKeyTo(to) {
    const wrapKey = this.wrapKeys.get(to);
    if (!wrapKey) return;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(`${this.me}>${to}:${this.sendIdx}`) },
      wrapKey, this.sendRaw,
    );
    this.send({
      type: 'e2ee', to, data: { kind: 'key', idx: this.sendIdx, iv: b64(iv), key: b64(sealed) },
    });
  }

  async onMediaKey(from, data) {
    if (!Number.isInteger(data.idx) || typeof data.iv !== 'string' || typeof data.key !== 'string') {
      console.warn('e2ee: a malformed media key was ignored', from);
      return;
    }
    const wrapKey = this.wrapKeys.get(from);
    if (!wrapKey) {
      // No public key from its sender yet: keep the newest such key until one comes.
      console.warn('e2ee: media key before its wrap key; kept until the public key arrives', from);
      this.early.set(from, data);
      return;
    }
    let raw;
    try {
      raw = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: unb64(data.iv), additionalData: new TextEncoder().encode(`${from}>${this.me}:${data.idx}`) },
        wrapKey, unb64(data.key),
      );
    } catch (error) {
      // Wrapped for another key pair (ours or theirs changed): the retry asks for it again.
      console.warn('e2ee: a media key could not be unwrapped', from, error);
      return;
    }
    this.worker.postMessage({ type: 'key', participant: from, idx: data.idx, raw });
    this.received.add(from);
    this.waitingSince.delete(from);
  }

  /** The others whose media we cannot decrypt: no key from them yet, or frames that fail. */
  get lacking() {
    return this.others.filter((id) => !this.nocap.has(id) && this.frames.get(id) !== 'clear'
      && (!this.received.has(id) || this.frames.get(id) === 'undecryptable'));
  }

  /**
   * Ask again whoever we have been waiting for KEY_RETRY or longer: our public key, sent to
   * them alone, makes them answer with theirs and a fresh wrap of their media key. Runs only
   * while someone is lacking, so a finished key exchange costs no timer.
   */
  scheduleRetry() {
    const lacking = new Set(this.lacking);
    for (const id of [...this.waitingSince.keys()]) {
      if (!lacking.has(id)) this.waitingSince.delete(id);
    }
    const now = Date.now();
    for (const id of lacking) {
      if (!this.waitingSince.has(id)) this.waitingSince.set(id, now);
    }
    if (this.retryTimer || !lacking.size) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const due = Date.now() - KEY_RETRY;
      for (const id of this.lacking) {
        const since = this.waitingSince.get(id);
        if (since === undefined || since > due) continue;
        console.warn('e2ee: still no usable media key; asking again', id);
        this.waitingSince.set(id, Date.now());
        this.send({ type: 'e2ee', to: id, data: this.pubMessage(false) });
      }
      this.scheduleRetry();
    }, KEY_RETRY);
  }

  onWorker(msg) {
    if (msg.type === 'frames') {
      this.frames.set(msg.participant, msg.state);
      this.update();
    } else if (msg.type === 'stats' && this.statsWaiter) {
      this.statsWaiter(msg.counts);
      this.statsWaiter = null;
    }
  }

  /** Frame counters from the worker (for diagnostics and tests). */
  stats() {
    if (!this.worker) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.statsWaiter = resolve;
      this.worker.postMessage({ type: 'stats' });
    });
  }

  get others() {
    return [...this.present].filter((id) => id !== this.me);
  }

  get state() {
    if (!this.support) return 'off';
    if (this.others.some((id) => this.nocap.has(id) || this.frames.get(id) === 'clear')) {
      return 'off';
    }
    if (this.others.every((id) => this.received.has(id))) return 'on';
    return 'pending';
  }

  /** Why encryption is off: 'browser' (ours) or 'others'. */
  get reason() {
    return this.support ? 'others' : 'browser';
  }

  async update() {
    if (this.worker) {
      const encrypt = !this.others.some((id) => this.nocap.has(id));
      this.worker.postMessage({ type: 'encrypt', on: encrypt });
      this.scheduleRetry();
    }
    // A code is shown only for a call encrypted end to end for everyone: while keys are
    // still exchanged, or when someone cannot encrypt, there is nothing it could confirm.
    const n = ++this.updates;
    const digest = this.state === 'on' ? await this.safetyDigest() : null;
    if (n !== this.updates) return; // a later update is under way and will tell
    this.code = digest ? safetyDigits(digest) : '';
    this.codeDigest = digest; // the pictures of the safety check come from it (sas-emoji.js)
    this.dispatchEvent(new Event('change'));
  }

  /** Twelve digits from the public keys of everyone in the call, the same on every screen. */
  async safetyCode() {
    const digest = await this.safetyDigest();
    return digest ? safetyDigits(digest) : '';
  }

  /** SHA-256 over the public keys of everyone in the call (null where we cannot encrypt). */
  async safetyDigest() {
    if (!this.support) return null;
    const line = (id) => {
      const keys = this.publicKeys.get(id);
      return `${id}:${keys.key}${keys.x25519 ? `:${keys.x25519}` : ''}\n`;
    };
    const lines = [...this.present].filter((id) => this.publicKeys.has(id)).sort()
      .map(line).join('');
    return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(lines)));
  }
}

/** The safety code's twelve digits (in groups of three) from the first 8 bytes of its hash. */
export function safetyDigits(digest) {
  let value = 0n;
  for (const byte of digest.slice(0, 8)) value = (value << 8n) | BigInt(byte);
  const digits = (value % 1000000000000n).toString().padStart(12, '0');
  return digits.match(/.{3}/g).join(' ');
}
