// The waiting room as the one who waits sees it: whether someone who may let them in is
// there (the server says so, live), the caseworker's latest message, and a device check while
// they wait. `earlyDeviceCheck` offers the same check on the page shown before the window opens.

import { announce } from './announcer.js';
import { LocalDevices, deviceErrorHelp, startLevelMeter } from './devices.js';
import { formatTime, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** A live microphone level in a `role="meter"` element and its bar; returns its stop. */
function meterInto(meterId, barId, track) {
  const meter = $(meterId);
  const bar = $(barId);
  return startLevelMeter(track, (level) => {
    const percent = Math.round(level * 100);
    bar.style.inlineSize = `${percent}%`;
    meter.setAttribute('aria-valuenow', String(percent));
  });
}

/** Our picture in `video` (nothing when there is no camera), and the note that says so. */
function previewInto(videoId, offId, devices) {
  const stream = devices.videoTrack ? devices.stream : null;
  const video = $(videoId);
  if (video.srcObject !== stream) video.srcObject = stream;
  $(offId).hidden = Boolean(devices.videoTrack);
}

export class WaitingRoom {
  /** @param {LocalDevices} devices  the join page's camera and microphone */
  constructor(devices) {
    this.devices = devices;
    this.hostName = '';
    this.present = null;
    this.stopMeter = () => {};
  }

  /** The server's `waiting` message: who may let us in, whether they are there, the latest note. */
  enter(msg) {
    this.hostName = (msg.host && msg.host.name) || '';
    this.present = null;
    this.host(Boolean(msg.host && msg.host.present), false);
    if (msg.note) this.note(msg.note, false);
    this.showDevices();
  }

  /** Whether someone who may let us in is in the call (`host` message, or with `waiting`). */
  host(present, tell = true) {
    if (present === this.present) return;
    this.present = present;
    let text;
    if (!present && this.hostName) {
      text = t('Your contact person, {host}, is not connected yet. You will be let in when they arrive.', { host: this.hostName });
    } else if (!present) {
      text = t('Your contact person is not connected yet. You will be let in when they arrive.');
    } else if (this.hostName) {
      text = t('{host} knows you are waiting and will let you in.', { host: this.hostName });
    } else {
      text = t('Your contact person knows you are waiting and will let you in.');
    }
    const box = $('waiting-text');
    box.textContent = text;
    box.dataset.present = String(present);
    if (tell) announce(text);
  }

  /** A message from the caseworker to the waiting room. */
  note(msg, tell = true) {
    $('waiting-note-text').textContent = msg.text;
    const time = $('waiting-note-time');
    time.textContent = formatTime(msg.at);
    time.dateTime = new Date(msg.at * 1000).toISOString();
    $('waiting-note').hidden = false;
    if (tell) announce(t('Message from your contact person: {text}', { text: msg.text }));
  }

  /** The picture and the microphone level, again after the devices changed. */
  showDevices() {
    previewInto('waiting-preview', 'waiting-preview-off', this.devices);
    this.stopMeter();
    this.stopMeter = meterInto('waiting-level', 'waiting-level-bar', this.devices.audioTrack);
  }

  /** Out of the waiting room (let in, or the page finished). */
  leave() {
    this.stopMeter();
    this.stopMeter = () => {};
  }
}

/** Before the window opens: a camera and microphone check on request. */
export function earlyDeviceCheck() {
  const button = $('early-check');
  if (!button) return;
  const devices = new LocalDevices();
  let stopMeter = () => {};
  const show = () => {
    previewInto('early-preview', 'early-preview-off', devices);
    stopMeter();
    stopMeter = meterInto('early-level', 'early-level-bar', devices.audioTrack);
  };
  devices.addEventListener('change', show);
  devices.addEventListener('error', (event) => {
    $('early-help').textContent = deviceErrorHelp(event.detail);
    $('early-help').hidden = false;
  });
  button.hidden = false;
  button.addEventListener('click', async () => {
    const open = $('early-devices').hidden;
    button.setAttribute('aria-expanded', String(open));
    $('early-devices').hidden = !open;
    if (open) {
      $('early-help').hidden = true;
      await devices.open();
      show();
    } else {
      stopMeter();
      devices.stop();
    }
  });
}
