// Encrypts outgoing and decrypts incoming media frames (AES-GCM) inside encoded transforms.
//
// Frame layout, as Jitsi does it: the first codec bytes stay in the clear so the SFU can still
// find keyframes (VP8: 10 bytes of a keyframe, 3 of a delta frame; Opus: 1 byte), and they are
// authenticated as additional data. Then the ciphertext with its tag, then a trailer:
// 12-byte IV, 1-byte key index, and the two magic bytes "LJ".
// Keys arrive from the page (e2ee.js) and live only in this worker's memory.

const IV_LENGTH = 12;
const MAGIC = [0x4c, 0x4a];
const TRAILER = IV_LENGTH + 1 + MAGIC.length;
const KEYS_KEPT = 4;

let sendKey = null; // {idx, key}
let encryptOn = true;
const keys = new Map(); // participant -> Map(idx -> CryptoKey)
const mids = new Map(); // subscriber mid -> participant
const seen = new Map(); // participant -> 'encrypted' | 'clear' | 'undecryptable'
const counts = { encrypted: 0, decrypted: 0, clear: 0, dropped: 0 };

function clearBytes(kind, frame) {
  if (kind === 'audio') return 1;
  return frame.type === 'key' ? 10 : 3;
}

function importKey(raw) {
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

function report(participant, state) {
  if (!participant || seen.get(participant) === state) return;
  seen.set(participant, state);
  self.postMessage({ type: 'frames', participant, state });
}

async function encryptFrame(frame, controller, kind) {
  if (!encryptOn || !sendKey) {
    controller.enqueue(frame);
    return;
  }
  const data = new Uint8Array(frame.data);
  const n = Math.min(clearBytes(kind, frame), data.length);
  const iv = crypto.getRandomValues(new Uint8Array(IV_LENGTH));
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: data.subarray(0, n) },
    sendKey.key,
    data.subarray(n),
  ));
  const out = new Uint8Array(n + sealed.length + TRAILER);
  out.set(data.subarray(0, n), 0);
  out.set(sealed, n);
  out.set(iv, n + sealed.length);
  out[out.length - 3] = sendKey.idx;
  out[out.length - 2] = MAGIC[0];
  out[out.length - 1] = MAGIC[1];
  frame.data = out.buffer;
  counts.encrypted += 1;
  controller.enqueue(frame);
}

async function decryptFrame(frame, controller, kind, mid) {
  const participant = mids.get(mid);
  const data = new Uint8Array(frame.data);
  const marked = data.length > TRAILER &&
    data[data.length - 2] === MAGIC[0] && data[data.length - 1] === MAGIC[1];
  if (!marked) {
    // Sent in the clear (the sender's browser cannot encrypt): show it, and say so.
    counts.clear += 1;
    report(participant, 'clear');
    controller.enqueue(frame);
    return;
  }
  const idx = data[data.length - 3];
  const key = participant && keys.get(participant) && keys.get(participant).get(idx);
  const n = Math.min(clearBytes(kind, frame), data.length - TRAILER);
  if (!key) {
    counts.dropped += 1;
    report(participant, 'undecryptable');
    return; // no key (yet): a frame the decoder cannot use is better dropped
  }
  const ivStart = data.length - TRAILER;
  try {
    const plain = new Uint8Array(await crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: data.subarray(ivStart, ivStart + IV_LENGTH),
        additionalData: data.subarray(0, n),
      },
      key,
      data.subarray(n, ivStart),
    ));
    const out = new Uint8Array(n + plain.length);
    out.set(data.subarray(0, n), 0);
    out.set(plain, n);
    frame.data = out.buffer;
    counts.decrypted += 1;
    report(participant, 'encrypted');
    controller.enqueue(frame);
  } catch (error) {
    counts.dropped += 1;
    report(participant, 'undecryptable');
  }
}

function setUp(readable, writable, options) {
  const transform = options.op === 'encrypt'
    ? (frame, controller) => encryptFrame(frame, controller, options.kind)
    : (frame, controller) => decryptFrame(frame, controller, options.kind, options.mid);
  readable.pipeThrough(new TransformStream({ transform })).pipeTo(writable).catch(() => {});
}

// RTCRtpScriptTransform (Chromium, Firefox, Safari).
self.addEventListener('rtctransform', (event) => {
  const { readable, writable, options } = event.transformer;
  setUp(readable, writable, options);
});

self.addEventListener('message', async (event) => {
  const msg = event.data;
  switch (msg.type) {
    case 'streams': // createEncodedStreams (older Chromium): the page hands over the streams
      setUp(msg.readable, msg.writable, msg.options);
      break;
    case 'sendKey':
      sendKey = { idx: msg.idx, key: await importKey(msg.raw) };
      break;
    case 'key': {
      const ring = keys.get(msg.participant) || new Map();
      ring.set(msg.idx, await importKey(msg.raw));
      while (ring.size > KEYS_KEPT) ring.delete(ring.keys().next().value);
      keys.set(msg.participant, ring);
      if (seen.get(msg.participant) === 'undecryptable') seen.delete(msg.participant);
      break;
    }
    case 'forget':
      keys.delete(msg.participant);
      seen.delete(msg.participant);
      break;
    case 'encrypt':
      encryptOn = Boolean(msg.on);
      break;
    case 'mid':
      mids.set(msg.mid, msg.participant);
      break;
    case 'stats':
      self.postMessage({ type: 'stats', counts: { ...counts } });
      break;
    default:
      break;
  }
});
