// The in-call screen: participant tiles with names and roles, the active speaker, the waiting
// list for whoever may admit, chat, the shared-content panel area, the encryption status, and
// live-region announcements of who joins, waits, is admitted or leaves.

import { announce } from './announcer.js';
import { el } from './dom.js';
import { formatTime, roleName, t, tn } from './i18n.js';
import { PictureInPicture } from './pip.js';
import { rate } from './quality.js';
import { SafetyCheck } from './safety-code.js';
import { ViewSizes } from './view-sizes.js';

const SPEAKING_LEVEL = 0.04; // RMS of the time-domain signal
const SPEAKER_INTERVAL = 250; // ms between level checks
const SPEAKER_HOLD = 1500; // ms the highlight stays through the pauses of speech
const ANALYSER_SAMPLES = 16384; // about 340 ms at 48 kHz: longer than SPEAKER_INTERVAL
const LEVEL_WINDOW = 0.02; // seconds: the level is that of the loudest such slice

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0]).join('').toUpperCase();
}

/** A small hub for audio levels: one AudioContext, one analyser per audio track. */
class LevelWatcher {
  constructor() {
    this.context = null;
    this.nodes = new Map(); // key -> {source, analyser, data}
  }

  watch(key, track) {
    this.unwatch(key);
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || !track) return;
    if (!this.context) this.context = new Ctx();
    if (this.context.state === 'suspended') this.context.resume().catch(() => {});
    const source = this.context.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.context.createAnalyser();
    // Enough samples to span a whole check interval, so no sound falls between two checks.
    analyser.fftSize = ANALYSER_SAMPLES;
    source.connect(analyser);
    this.nodes.set(key, { source, analyser, data: new Float32Array(analyser.fftSize) });
  }

  unwatch(key) {
    const node = this.nodes.get(key);
    if (node) node.source.disconnect();
    this.nodes.delete(key);
  }

  /** Per track, the level (RMS) of the loudest 20 ms of the last third of a second. */
  levels() {
    const result = new Map();
    const step = this.context ? Math.round(this.context.sampleRate * LEVEL_WINDOW) : 960;
    for (const [key, node] of this.nodes) {
      node.analyser.getFloatTimeDomainData(node.data);
      let loudest = 0;
      for (let start = 0; start + step <= node.data.length; start += step) {
        let sum = 0;
        for (let i = start; i < start + step; i += 1) sum += node.data[i] * node.data[i];
        loudest = Math.max(loudest, sum / step);
      }
      result.set(key, Math.sqrt(loudest));
    }
    return result;
  }

  close() {
    for (const key of [...this.nodes.keys()]) this.unwatch(key);
    if (this.context) this.context.close().catch(() => {});
  }
}

export class CallView {
  /**
   * @param {object} options
   * @param {(action: string, detail?: object) => void} options.onAction  admit, deny, chat,
   *   lobby_message, view (how tall the others' cameras are shown: `{heights}`)
   */
  constructor({ onAction }) {
    this.onAction = onAction;
    this.me = null;
    this.grants = {};
    this.people = new Map(); // id -> {info, state, muted: {audio, video}}
    this.tiles = document.getElementById('tiles');
    this.lobbyBox = document.getElementById('lobby');
    this.lobbyList = document.getElementById('lobby-list');
    this.chatBox = document.getElementById('chat');
    this.chatLog = document.getElementById('chat-log');
    this.pip = new PictureInPicture(this.tiles);
    this.sizes = new ViewSizes(this.tiles, (heights) => this.onAction('view', { heights }));
    this.audioBox = el('div', { className: 'audio-sinks', hidden: true });
    document.body.append(this.audioBox);
    this.levels = new LevelWatcher();
    this.safety = new SafetyCheck();
    this.speaker = null;
    this.speakerHeard = 0;
    this.unread = 0;
    this.lobbyIds = new Set();
    this.speakerTimer = setInterval(() => this.updateSpeaker(), SPEAKER_INTERVAL);
    document.getElementById('chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = document.getElementById('chat-input');
      const text = input.value.trim();
      if (text) this.onAction('chat', { text });
      input.value = '';
    });
    document.getElementById('lobby-message-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = document.getElementById('lobby-message-input');
      const text = input.value.trim();
      if (!text) return;
      this.onAction('lobby_message', { text });
      input.value = '';
      document.getElementById('lobby-message-status').textContent = t('Sent to the waiting room.');
    });
    // The chat drawer closes with its button or Escape; focus goes back to the chat button.
    document.getElementById('chat-close').addEventListener('click', () => this.closeChat());
    this.chatBox.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        this.closeChat();
      }
    });
    this.lobbyList.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (button) this.onAction(button.dataset.action, { participant: button.dataset.pid });
    });
  }

  name(id) {
    const person = this.people.get(id);
    return person ? person.info.name : '';
  }

  /** The `hello` message: who we are and who is in the appointment. */
  hello(msg) {
    this.me = msg.participant.id;
    this.grants = msg.grants || {};
    this.sizes.reset(this.me);
    for (const p of msg.participants) {
      const known = this.people.get(p.id);
      this.people.set(p.id, {
        info: p,
        state: p.id === this.me ? 'joined' : p.state,
        muted: known ? known.muted : { audio: false, video: false, screen: true },
        missing: known && known.missing ? known.missing : { audio: false, video: false },
        mediaFailed: p.id !== this.me && p.media === 'failed',
      });
    }
    this.render();
  }

  presentIds() {
    return [...this.people].filter(([, p]) => p.state === 'joined' || p.state === 'reconnecting')
      .map(([id]) => id);
  }

  /** A `presence` message. */
  presence(msg) {
    const id = msg.participant;
    const person = this.people.get(id) || {
      info: msg.info || { id, name: '', role: '' },
      muted: { audio: false, video: false, screen: true },
      missing: { audio: false, video: false },
    };
    if (msg.info && msg.info.name) person.info = msg.info;
    const before = person.state;
    person.state = msg.state;
    this.people.set(id, person);
    const vars = { name: person.info.name };
    if (msg.state === 'joined' && before !== 'joined') {
      announce(before === 'reconnecting' ? t('{name} is back.', vars) : t('{name} joined the call.', vars));
    } else if (msg.state === 'reconnecting') {
      announce(t('{name} is reconnecting…', vars));
    } else if (msg.state === 'left') {
      announce(t('{name} left the call.', vars));
      person.mediaFailed = false;
      this.dropMedia(id);
    }
    this.render();
  }

  /** A `lobby` message (only for those who may admit). */
  lobby(waiting) {
    const fresh = waiting.filter((w) => !this.lobbyIds.has(w.participant));
    for (const w of fresh) announce(t('{name} is waiting to be let in.', { name: w.name }));
    this.lobbyIds = new Set(waiting.map((w) => w.participant));
    this.lobbyList.replaceChildren(...waiting.map((w) => el(
      'li', { className: 'lobby-item', 'data-pid': w.participant },
      el('span', { className: 'lobby-name' }, el('bdi', { text: w.name }),
        ` (${roleName(w.role)})`),
      el('button', {
        type: 'button', className: 'button primary', 'data-action': 'admit', 'data-pid': w.participant,
        'aria-label': t('Let {name} in', { name: w.name }), text: t('Let in'),
      }),
      el('button', {
        type: 'button', className: 'button secondary', 'data-action': 'deny', 'data-pid': w.participant,
        'aria-label': t('Do not let {name} in', { name: w.name }), text: t('Decline'),
      }),
    )));
    this.lobbyBox.hidden = waiting.length === 0;
  }

  /** Our own camera, shown muted and mirrored. */
  setLocal(stream) {
    this.localStream = stream;
    this.levels.watch(`${this.me}:audio`, stream.getAudioTracks()[0]);
    this.render();
  }

  /** A remote track from the subscriber connection. */
  addTrack(participant, source, track) {
    const person = this.people.get(participant);
    if (!person) return;
    person.streams = person.streams || {};
    if (source === 'audio') {
      const stream = new MediaStream([track]);
      person.streams.audio = stream;
      let sink = this.audioBox.querySelector(`audio[data-pid="${CSS.escape(participant)}"]`);
      if (!sink) {
        sink = el('audio', { autoplay: true, 'data-pid': participant });
        this.audioBox.append(sink);
      }
      sink.srcObject = stream;
      sink.play().catch(() => {});
      this.levels.watch(`${participant}:audio`, track);
      return;
    }
    const key = source === 'screen' ? 'screen' : 'camera';
    person.streams[key] = new MediaStream([track]);
    if (source === 'screen') {
      track.addEventListener('unmute', () => { person.muted.screen = false; this.render(); });
    }
    this.render();
  }

  removeTrack(participant, source) {
    const person = this.people.get(participant);
    if (!person || !person.streams) return;
    const key = source === 'audio' ? 'audio' : source === 'screen' ? 'screen' : 'camera';
    delete person.streams[key];
    if (key === 'audio') {
      this.levels.unwatch(`${participant}:audio`);
      const sink = this.audioBox.querySelector(`audio[data-pid="${CSS.escape(participant)}"]`);
      if (sink) sink.remove();
    }
    this.render();
  }

  dropMedia(participant) {
    for (const source of ['audio', 'video', 'screen']) this.removeTrack(participant, source);
  }

  /**
   * A `mute` message: someone turned their microphone, camera or screen on or off, or has
   * none (`missing`: no such device, or the browser may not use it).
   */
  setMuted(participant, kind, muted, missing = false) {
    const person = this.people.get(participant);
    if (!person) return;
    person.muted[kind] = muted;
    if (kind === 'audio' || kind === 'video') {
      person.missing = person.missing || { audio: false, video: false };
      person.missing[kind] = missing && muted;
    }
    this.render();
  }

  /** A `media_status` message: someone's sound and picture do (not) get through. */
  mediaStatus(msg) {
    const person = this.people.get(msg.participant);
    const failed = msg.state === 'failed';
    if (!person || Boolean(person.mediaFailed) === failed) return;
    person.mediaFailed = failed;
    const vars = { name: person.info.name };
    announce(failed
      ? t('{name}\'s picture and sound cannot get through.', vars)
      : t('{name}\'s picture and sound get through again.', vars));
    this.render();
  }

  /** Connection figures ({rtt, loss, fps}) for someone's picture and sound, from getStats. */
  setQuality(participant, figures) {
    const person = this.people.get(participant);
    if (!person) return;
    person.quality = figures;
    const tile = this.tile(participant, 'camera');
    if (tile) this.updateQuality(tile, person);
  }

  /**
   * Our own uplink ({weak, scale}): while it is weak we send a smaller picture, and say so
   * once (a notice on top, read out) and on our own tile. Nothing shows while it is good.
   */
  setUplink({ weak }) {
    const notice = document.getElementById('uplink-notice');
    if (notice.hidden === !weak) return;
    notice.hidden = !weak;
    if (weak) announce(notice.textContent);
    const tile = this.tile(this.me, 'camera');
    if (tile) this.updateOwnQuality(tile, weak);
    this.uplinkWeak = weak;
  }

  updateOwnQuality(tile, weak) {
    const box = tile.querySelector('.tile-quality');
    box.hidden = !weak;
    if (!weak) return;
    const words = t('Your connection is weak');
    box.dataset.level = 'weak';
    box.setAttribute('aria-label', words);
    box.title = words;
    box.querySelector('.tile-quality-text').textContent = words;
  }

  updateQuality(tile, person) {
    const box = tile.querySelector('.tile-quality');
    // A camera that is off sends a few frames a second on purpose: not a weak connection.
    const figures = person.quality && person.muted.video ? { ...person.quality, fps: null } : person.quality;
    const level = figures ? rate(figures) : 'unknown';
    box.hidden = level === 'unknown';
    if (box.hidden) return;
    const words = level === 'weak' ? t('Weak connection') : t('Good connection');
    box.dataset.level = level;
    box.setAttribute('aria-label', words);
    box.title = words;
    box.querySelector('.tile-quality-text').textContent = words;
  }

  /** Our own help box: shown while our sound and picture do not get through. */
  setMediaHelp(on, audioOnly) {
    document.getElementById('media-help').hidden = !on;
    document.getElementById('media-audio-only').hidden = !(on && audioOnly);
  }

  /** Who in the call cannot be seen or heard, and (for the caseworker) what to do. */
  renderMediaNotice() {
    const box = document.getElementById('media-notice');
    const affected = [...this.people].filter(([id, p]) => id !== this.me && p.mediaFailed &&
      (p.state === 'joined' || p.state === 'reconnecting'));
    const lines = affected.map(([id, p]) => el('p', {
      'data-pid': id, text: t('{name}\'s picture and sound cannot get through.', { name: p.info.name }),
    }));
    if (lines.length && (this.grants.admit || this.grants.moderate)) {
      lines.push(el('p', {
        text: t('Their network may block video calls. You can write in the chat or phone them.'),
      }));
    }
    box.replaceChildren(...lines);
    box.hidden = lines.length === 0;
  }

  /**
   * Rebuild the tiles, existing elements kept: shared screens first, then the others' cameras,
   * our own camera last. The layout (call.css): alone, our picture fills the stage ('solo');
   * with one other person, theirs does and ours is a small movable picture-in-picture
   * ('pip', see pip.js); with more, a grid with ours as a small tile of its own ('grid').
   */
  render() {
    const screens = [];
    const others = [];
    for (const [id, person] of this.people) {
      if (person.state !== 'joined' && person.state !== 'reconnecting') continue;
      if (id !== this.me) others.push([id, 'camera']);
      if (person.streams && person.streams.screen && !person.muted.screen) screens.push([id, 'screen']);
    }
    const wanted = [...screens, ...others];
    if (this.me && this.people.has(this.me)) wanted.push([this.me, 'camera']);
    const keep = new Set(wanted.map(([id, source]) => `${id}:${source}`));
    for (const tile of [...this.tiles.children]) {
      if (!keep.has(`${tile.dataset.pid}:${tile.dataset.source}`)) tile.remove();
    }
    for (const [id, source] of wanted) {
      const tile = this.tile(id, source) || this.createTile(id, source);
      this.updateTile(tile, this.people.get(id), id, source);
      this.tiles.append(tile); // keeps the order stable
    }
    this.tiles.dataset.count = String(wanted.length);
    this.tiles.dataset.others = String(others.length);
    this.tiles.dataset.layout = others.length === 0 ? 'solo' : others.length === 1 ? 'pip' : 'grid';
    this.renderMediaNotice();
    this.sizes.update();
  }

  tile(id, source) {
    return this.tiles.querySelector(`li[data-pid="${CSS.escape(id)}"][data-source="${source}"]`);
  }

  createTile(id, source) {
    const person = this.people.get(id);
    const isMe = id === this.me;
    const video = el('video', {
      autoplay: true, playsinline: true, muted: true, className: isMe && source === 'camera' ? 'mirror' : null,
    });
    video.muted = true; // the audio plays through its own element
    const label = el('p', { className: 'tile-label' },
      el('bdi', { className: 'tile-name', text: person.info.name }),
      el('span', { className: 'tile-role', text: isMe ? t('You') : roleName(person.info.role) }),
      el('span', { className: 'tile-muted', hidden: true },
        el('img', { src: '/static/img/mic-off.svg', alt: t('Microphone off'), width: 20, height: 20 })));
    const tile = el('li', {
      className: `tile tile-${source}${isMe && source === 'camera' ? ' tile-self' : ''}`, 'data-pid': id, 'data-source': source,
      'data-role': person.info.role, 'aria-label': source === 'screen'
        ? t('Screen of {name}', { name: person.info.name }) : person.info.name,
    },
    video,
    el('div', { className: 'avatar', 'aria-hidden': 'true', text: initials(person.info.name) }),
    // Instead of a black picture: what is off or missing, in words.
    el('p', { className: 'tile-marks', hidden: true },
      el('span', { className: 'tile-mark', 'data-mark': 'video', hidden: true },
        el('img', { src: '/static/img/camera-off.svg', alt: '', width: 20, height: 20 }),
        el('span', { className: 'tile-mark-text' })),
      el('span', { className: 'tile-mark', 'data-mark': 'audio', hidden: true },
        el('img', { src: '/static/img/mic-off.svg', alt: '', width: 20, height: 20 }),
        el('span', { className: 'tile-mark-text' }))),
    label,
    el('p', { className: 'tile-state', hidden: true }),
    // Our own picture-in-picture: to another corner (shown in the 'pip' layout only).
    isMe && source === 'camera' ? el('button', {
      type: 'button', className: 'pip-move', 'aria-label': t('Move your picture to another corner'),
      title: t('Move your picture to another corner'), 'aria-keyshortcuts': 'ArrowUp ArrowDown ArrowLeft ArrowRight',
    }, el('img', { src: '/static/img/move.svg', alt: '', width: 20, height: 20 })) : '',
    // How their picture and sound reach us: bars, words on hover and focus.
    el('span', { className: 'tile-quality', tabindex: '0', role: 'img', hidden: true },
      el('span', { className: 'bars', 'aria-hidden': 'true' },
        el('span', {}), el('span', {}), el('span', {})),
      el('span', { className: 'tile-quality-text', 'aria-hidden': 'true' })));
    return tile;
  }

  updateTile(tile, person, id, source) {
    const video = tile.querySelector('video');
    const isMe = id === this.me;
    const stream = isMe ? this.localStream : person.streams && person.streams[source];
    if (stream && video.srcObject !== stream) {
      video.srcObject = stream;
      video.play().catch(() => {});
    }
    const cameraOff = source === 'camera' && (person.muted.video || !stream);
    tile.classList.toggle('no-video', cameraOff);
    tile.querySelector('.tile-muted').hidden = source !== 'camera' || !person.muted.audio;
    this.updateMarks(tile, person, source);
    const state = tile.querySelector('.tile-state');
    const reconnecting = person.state === 'reconnecting';
    const blocked = !isMe && source === 'camera' && Boolean(person.mediaFailed);
    state.hidden = !reconnecting && !blocked;
    state.textContent = reconnecting ? t('Reconnecting…')
      : blocked ? t('Picture and sound cannot get through') : '';
    tile.classList.toggle('reconnecting', person.state === 'reconnecting');
    tile.classList.toggle('speaking', source === 'camera' && id === this.speaker);
    if (!isMe && source === 'camera') this.updateQuality(tile, person);
    if (isMe && source === 'camera') this.updateOwnQuality(tile, Boolean(this.uplinkWeak));
  }

  /** "No camera" / "No microphone" (or "Camera turned off") on a camera tile. */
  updateMarks(tile, person, source) {
    const missing = person.missing || { audio: false, video: false };
    const marks = {
      video: missing.video ? t('No camera') : person.muted.video ? t('Camera turned off') : '',
      audio: missing.audio ? t('No microphone') : '',
    };
    let any = false;
    for (const [kind, text] of Object.entries(marks)) {
      const mark = tile.querySelector(`.tile-mark[data-mark="${kind}"]`);
      const on = source === 'camera' && Boolean(text);
      mark.hidden = !on;
      mark.querySelector('.tile-mark-text').textContent = on ? text : '';
      any = any || on;
    }
    tile.querySelector('.tile-marks').hidden = !any;
    tile.dataset.missing = ['video', 'audio'].filter((k) => missing[k]).join(' ');
  }

  updateSpeaker() {
    const levels = this.levels.levels();
    const now = performance.now();
    const silent = (id) => {
      const person = this.people.get(id);
      return !person || person.muted.audio ||
        (person.state !== 'joined' && person.state !== 'reconnecting');
    };
    let best = null;
    let bestLevel = SPEAKING_LEVEL;
    for (const [key, level] of levels) {
      const id = key.split(':')[0];
      if (silent(id)) continue;
      if (level > bestLevel) {
        best = id;
        bestLevel = level;
      }
    }
    if (best) {
      this.speakerHeard = now;
    } else if (this.speaker && !silent(this.speaker) && now - this.speakerHeard < SPEAKER_HOLD) {
      best = this.speaker; // a pause between words: keep the highlight
    }
    if (best === this.speaker) return;
    this.speaker = best;
    for (const tile of this.tiles.children) {
      tile.classList.toggle('speaking', tile.dataset.pid === best && tile.dataset.source === 'camera');
    }
  }

  /** A chat line. */
  chat(msg) {
    const mine = msg.from === this.me;
    // In the job centre's zone, as the page shows the appointment's time (not the device's).
    const time = formatTime(msg.at || Date.now() / 1000);
    this.chatLog.append(el('li', { className: mine ? 'chat-line mine' : 'chat-line' },
      el('span', { className: 'chat-meta' }, el('bdi', { text: mine ? t('You') : this.name(msg.from) }), ` · ${time}`),
      el('span', { className: 'chat-text', dir: 'auto', text: msg.text })));
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
    if (this.chatBox.hidden && !mine) {
      this.unread += 1;
      const badge = document.getElementById('chat-unread');
      badge.hidden = false;
      badge.textContent = tn('{count} new', '{count} new', this.unread);
      announce(t('New message from {name}', { name: this.name(msg.from) }));
    }
  }

  toggleChat(open) {
    this.chatBox.hidden = !open;
    document.getElementById('btn-chat').setAttribute('aria-expanded', String(open));
    if (open) {
      this.unread = 0;
      document.getElementById('chat-unread').hidden = true;
      document.getElementById('chat-input').focus();
    }
  }

  closeChat() {
    this.toggleChat(false);
    document.getElementById('btn-chat').focus();
  }

  /**
   * The encryption badge, the safety code and the key agreement in use (e.g. ['X25519'], or
   * ['P-256', 'X25519'] when a participant's browser has no X25519); `digest` is the hash the
   * code comes from (the safety pictures are made from it).
   */
  setE2EE(state, code, reason, agreements = [], digest = null) {
    const button = document.getElementById('e2ee-status');
    button.dataset.state = state;
    const label = document.getElementById('e2ee-label');
    const explain = document.getElementById('e2ee-explain');
    if (state === 'on') {
      label.textContent = t('End-to-end encrypted');
      explain.textContent = t('Sound and picture are encrypted on your device. The server cannot see or hear the call.');
    } else if (state === 'pending') {
      label.textContent = t('Setting up encryption…');
      explain.textContent = t('The devices are exchanging keys.');
    } else {
      label.textContent = t('Not end-to-end encrypted');
      explain.textContent = reason === 'browser'
        ? t('This browser cannot encrypt the call end to end. The connection to the server is still encrypted.')
        : t('A participant\'s browser cannot encrypt end to end. The connection to the server is still encrypted.');
    }
    // A code confirms an encrypted call only: none while keys are exchanged or when off.
    const others = this.presentIds().filter((id) => id !== this.me)
      .map((id) => ({ id, name: this.name(id) }));
    this.safety.update(state, code, digest, others);
    document.getElementById('e2ee-agreement').textContent =
      state === 'off' || !agreements.length ? '–' : `ECDH ${agreements.join(', ')}`;
  }

  setReconnecting(on) {
    document.getElementById('reconnect-banner').hidden = !on;
  }

  destroy() {
    clearInterval(this.speakerTimer);
    this.levels.close();
    this.audioBox.remove();
  }
}
