// Camera and microphone: opening them, choosing among them, the level meter, and what to tell
// people when the browser refuses or finds no device.

import { page, t } from './i18n.js';

// What to ask of the camera: the server's camera_* settings.
const CAMERA = page.camera || { width: 640, height: 480, frameRate: 24 };

/** Human help for a getUserMedia failure, in the page's language. */
export function deviceErrorHelp(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return t('The browser does not allow camera and microphone. Tap the camera or lock symbol next to the web address, allow camera and microphone, then tap "Try again".');
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return t('No camera or microphone was found. Connect one and tap "Try again", or join without: the others will not see or hear you.');
  }
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') {
    return t('Another app is using the camera or microphone. Close it, then tap "Try again".');
  }
  if (name === 'Unsupported') {
    return t('This browser cannot use a camera. Please open the link in a current version of Chrome, Edge, Firefox or Safari.');
  }
  return t('Camera and microphone could not be started. Tap "Try again".');
}

/** A level meter on an audio track: calls `onLevel(0..1)` about ten times a second. */
export function startLevelMeter(track, onLevel) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx || !track) return () => {};
  const context = new Ctx();
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  // Browsers start audio contexts suspended until the first touch or key press.
  const resume = () => { if (context.state === 'suspended') context.resume().catch(() => {}); };
  resume();
  document.addEventListener('pointerdown', resume, { once: true });
  document.addEventListener('keydown', resume, { once: true });
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const rms = Math.sqrt(sum / samples.length);
    onLevel(Math.min(1, rms * 4));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    context.close().catch(() => {});
  };
}

/**
 * The local camera and microphone: one stream whose tracks can be swapped.
 * Emits 'change' (tracks replaced) and 'error' (detail: the error) events.
 */
export class LocalDevices extends EventTarget {
  constructor() {
    super();
    this.stream = new MediaStream();
    this.cameraId = '';
    this.micId = '';
    this.facingMode = 'user';
    this.cameras = [];
    this.microphones = [];
    this.error = null;
  }

  get audioTrack() { return this.stream.getAudioTracks()[0] || null; }

  get videoTrack() { return this.stream.getVideoTracks()[0] || null; }

  /** Open camera and microphone; falls back to one of them when the other is missing. */
  async open() {
    this.error = null;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.error = { name: 'Unsupported' };
      this.dispatchEvent(new CustomEvent('error', { detail: this.error }));
      return;
    }
    const wanted = { audio: this.audioConstraints(), video: this.videoConstraints() };
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia(wanted);
    } catch (error) {
      this.error = error;
      if (error.name === 'NotFoundError' || error.name === 'NotReadableError' ||
          error.name === 'OverconstrainedError') {
        stream = await this.tryOne(wanted);
      }
    }
    if (stream) this.use(stream);
    await this.refreshDeviceList();
    if (this.error) this.dispatchEvent(new CustomEvent('error', { detail: this.error }));
  }

  async tryOne(wanted) {
    for (const only of [{ audio: wanted.audio }, { video: wanted.video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(only);
      } catch (error) {
        // keep the first error: it names what went wrong with the pair
      }
    }
    return null;
  }

  audioConstraints() {
    const base = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    return this.micId ? { ...base, deviceId: { exact: this.micId } } : base;
  }

  videoConstraints() {
    const base = {
      width: { ideal: CAMERA.width },
      height: { ideal: CAMERA.height },
      frameRate: { ideal: CAMERA.frameRate },
    };
    return this.cameraId
      ? { ...base, deviceId: { exact: this.cameraId } }
      : { ...base, facingMode: this.facingMode };
  }

  use(stream) {
    for (const kind of ['audio', 'video']) {
      const fresh = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      if (!fresh) continue;
      const old = kind === 'audio' ? this.audioTrack : this.videoTrack;
      if (old) {
        fresh.enabled = old.enabled;
        this.stream.removeTrack(old);
        old.stop();
      }
      this.stream.addTrack(fresh);
    }
    const v = this.videoTrack;
    if (v) this.cameraId = v.getSettings().deviceId || this.cameraId;
    const a = this.audioTrack;
    if (a) this.micId = a.getSettings().deviceId || this.micId;
    this.dispatchEvent(new Event('change'));
  }

  async refreshDeviceList() {
    if (!navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    this.cameras = devices.filter((d) => d.kind === 'videoinput' && d.deviceId);
    this.microphones = devices.filter((d) => d.kind === 'audioinput' && d.deviceId);
  }

  /** Switch to another camera (by id), keeping the microphone. */
  async chooseCamera(deviceId) {
    this.cameraId = deviceId;
    await this.reopen({ video: this.videoConstraints() });
  }

  /** Switch to another microphone (by id). */
  async chooseMicrophone(deviceId) {
    this.micId = deviceId;
    await this.reopen({ audio: this.audioConstraints() });
  }

  /** Front camera to back camera and back again (tablets, phones). */
  async flipCamera() {
    if (this.cameras.length > 1 && !this.hasFacingModes()) {
      const index = this.cameras.findIndex((c) => c.deviceId === this.cameraId);
      await this.chooseCamera(this.cameras[(index + 1) % this.cameras.length].deviceId);
      return;
    }
    this.facingMode = this.facingMode === 'user' ? 'environment' : 'user';
    this.cameraId = '';
    await this.reopen({ video: this.videoConstraints() });
  }

  hasFacingModes() {
    const track = this.videoTrack;
    const caps = track && track.getCapabilities ? track.getCapabilities() : {};
    return Array.isArray(caps.facingMode) && caps.facingMode.length > 0;
  }

  async reopen(constraints) {
    // Some tablets cannot open two cameras at once: stop the old one first.
    if (constraints.video && this.videoTrack) this.videoTrack.stop();
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      this.use(stream);
      this.error = null;
    } catch (error) {
      this.error = error;
      this.dispatchEvent(new CustomEvent('error', { detail: error }));
    }
  }

  setEnabled(kind, enabled) {
    const track = kind === 'audio' ? this.audioTrack : this.videoTrack;
    if (track) track.enabled = enabled;
  }

  stop() {
    for (const track of this.stream.getTracks()) track.stop();
  }
}
