// The join page: device check and consent, then the waiting room, the call and the end screen.

import { announce } from './announcer.js';
import { CallView } from './call-view.js';
import { LocalDevices, deviceErrorHelp, startLevelMeter } from './devices.js';
import { DocPanel } from './doc-panel.js';
import { LearnPanel } from './learn-panel.js';
import { E2EE } from './e2ee.js';
import { page, t } from './i18n.js';
import { MediaSession } from './media.js';
import { QualityWatch } from './quality.js';
import { RoomSocket } from './room-socket.js';
import { WaitingRoom, earlyDeviceCheck } from './waiting-room.js';

const $ = (id) => document.getElementById(id);
const LINK_PROBLEMS = new Set([404, 409, 410, 425]);
// How long to wait before reconnecting after the first, second, ... media failure in a row
// (each attempt itself takes about CONNECT_TIMEOUT to fail): quick at first, then calmer.
const RETRY_DELAYS = [0, 2000, 5000, 15000];

function show(stepId) {
  for (const step of document.querySelectorAll('.step')) step.hidden = step.id !== stepId;
  const picker = $('lang-picker');
  if (picker) picker.hidden = stepId !== 'prejoin';
  const heading = document.querySelector(`#${stepId} h1`);
  if (heading) heading.focus({ preventScroll: false });
}

function inviteCode() {
  return decodeURIComponent(window.location.pathname.split('/').pop() || '');
}

/** Exchange the invite code (or, opened from the jobseeker's space, its session) for a room token. */
async function requestToken() {
  const fromSpace = Boolean(page.join_via);
  const headers = { 'Content-Type': 'application/json' };
  if (fromSpace) headers['X-CSRF-Token'] = page.csrf;
  const response = await fetch(fromSpace ? page.join_via : '/api/join', {
    method: 'POST',
    headers,
    body: JSON.stringify(fromSpace ? { consent: true } : { code: inviteCode(), consent: true }),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || response.statusText);
    error.status = response.status;
    error.code = body.code;
    throw error;
  }
  return body;
}

/** The link stopped working while the page was open: let the server explain (once). */
function explainLinkProblem() {
  const key = `lj-reloaded:${window.location.pathname}`;
  if (sessionStorage.getItem(key)) return false;
  sessionStorage.setItem(key, '1');
  window.location.reload();
  return true;
}

class JoinPage {
  constructor() {
    this.devices = new LocalDevices();
    this.stopMeter = () => {};
    this.waitingRoom = new WaitingRoom(this.devices);
    this.join = null;
    this.socket = null;
    this.media = null;
    this.view = null;
    this.e2ee = null;
    this.inCall = false;
    this.muted = { audio: false, video: false };
    // No such device on this page (no camera, no microphone): the others are told, so their
    // tile shows initials and a mark instead of a black picture.
    this.missing = { audio: false, video: false };
    this.screenTrack = null;
    this.endArmed = null;
    this.mediaFailures = 0; // failed media attempts in a row
    this.mediaTrouble = false; // our sound and picture do not get through (help is shown)
    this.mediaWorked = false; // media got through at least once on this page
    this.retryTimer = null;
    this.rebuilding = false;
    this.quality = null;
  }

  async start() {
    this.loadedAt = Date.now() / 1000;
    sessionStorage.removeItem(`lj-reloaded:${window.location.pathname}`);
    // The preview gets the stream once it has a picture: a video element showing an empty
    // stream holds up the page's load event for as long as no camera is there.
    this.devices.addEventListener('change', () => this.onDevicesChanged());
    this.devices.addEventListener('error', (event) => this.showDeviceHelp(event.detail));
    $('retry-devices').addEventListener('click', () => this.openDevices());
    $('camera-select').addEventListener('change', (e) => this.devices.chooseCamera(e.target.value));
    $('mic-select').addEventListener('change', (e) => this.devices.chooseMicrophone(e.target.value));
    $('flip-camera').addEventListener('click', () => this.devices.flipCamera());
    $('join-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    $('consent').addEventListener('change', () => {
      if ($('consent').checked) this.consentError(false);
    });
    this.bindControls();
    await this.openDevices();
  }

  async openDevices() {
    $('device-help').hidden = true;
    await this.devices.open();
    this.showOwnPicture(); // also when no device opened (no 'change' event then)
    this.fillDeviceLists();
    this.updateMissing();
  }

  /** Something is wrong with camera or microphone: say what helps, and unfold the choosers. */
  showDeviceHelp(error) {
    $('device-help-text').textContent = deviceErrorHelp(error);
    $('device-help').hidden = false;
    $('device-settings').open = true;
  }

  /**
   * Which devices this page has none of: the call's buttons for them can do nothing (they are
   * disabled and say why), and the others learn of it (once in the call).
   */
  updateMissing() {
    const buttons = { audio: $('btn-mic'), video: $('btn-cam') };
    const absent = { audio: t('No microphone'), video: t('No camera') };
    for (const kind of ['audio', 'video']) {
      const track = kind === 'audio' ? this.devices.audioTrack : this.devices.videoTrack;
      const missing = !track;
      const button = buttons[kind];
      button.disabled = missing;
      if (missing) {
        button.querySelector('span').textContent = absent[kind];
        button.querySelector('img').src = kind === 'audio' ? '/static/img/mic-off.svg' : '/static/img/camera-off.svg';
      } else if (this.missing[kind]) {
        this.showMuteButton(kind); // the device came (back): the button works again
      }
      if (missing === this.missing[kind]) continue;
      this.missing[kind] = missing;
      if (this.view) this.view.setMuted(this.view.me, kind, missing || this.muted[kind], missing);
      if (this.socket && this.inCall) this.tellMute(kind);
    }
  }

  /** Tell the others whether our camera or microphone is off, or missing. */
  tellMute(kind) {
    const missing = this.missing[kind];
    const msg = { type: 'mute', kind, muted: missing || this.muted[kind] };
    if (missing) msg.missing = true;
    this.socket.send(msg);
  }

  fillDeviceLists() {
    const fill = (select, devices, current, fallback) => {
      select.replaceChildren(...devices.map((d, i) => {
        const option = document.createElement('option');
        option.value = d.deviceId;
        option.textContent = d.label || `${fallback} ${i + 1}`;
        option.selected = d.deviceId === current;
        return option;
      }));
      select.disabled = devices.length === 0;
      if (!devices.length) {
        const option = document.createElement('option');
        option.textContent = t('None found');
        select.append(option);
      }
    };
    fill($('camera-select'), this.devices.cameras, this.devices.cameraId, t('Camera'));
    fill($('mic-select'), this.devices.microphones, this.devices.micId, t('Microphone'));
    const canFlip = this.devices.cameras.length > 1 || this.devices.hasFacingModes();
    $('flip-camera').hidden = !canFlip;
    $('btn-flip').hidden = !canFlip;
  }

  /** Our own camera picture in `video`, or nothing when there is no camera. */
  showPreview(video) {
    const stream = this.devices.videoTrack ? this.devices.stream : null;
    if (video.srcObject !== stream) video.srcObject = stream;
  }

  /** The device check's picture, or the note that there is none. */
  showOwnPicture() {
    $('preview-off').hidden = Boolean(this.devices.videoTrack);
    this.showPreview($('preview'));
  }

  onDevicesChanged() {
    this.showOwnPicture();
    if (!$('waiting').hidden) this.waitingRoom.showDevices();
    this.stopMeter();
    const bar = $('mic-level-bar');
    const meter = $('mic-level');
    this.stopMeter = startLevelMeter(this.devices.audioTrack, (level) => {
      bar.style.inlineSize = `${Math.round(level * 100)}%`;
      meter.setAttribute('aria-valuenow', String(Math.round(level * 100)));
    });
    if (this.devices.videoTrack) this.devices.videoTrack.enabled = !this.muted.video;
    if (this.devices.audioTrack) this.devices.audioTrack.enabled = !this.muted.audio;
    if (this.media) {
      this.media.replaceTrack('audio', this.devices.audioTrack);
      this.media.replaceTrack('video', this.devices.videoTrack);
    }
    if (this.view && this.inCall) this.view.setLocal(this.devices.stream);
    this.fillDeviceLists();
    this.updateMissing();
  }

  consentError(on) {
    $('consent-error').hidden = !on;
    $('consent').setAttribute('aria-invalid', on ? 'true' : 'false');
  }

  async submit() {
    if (!$('consent').checked) {
      this.consentError(true);
      $('consent').focus();
      return;
    }
    const button = $('join-button');
    button.disabled = true;
    $('join-status').textContent = t('Connecting…');
    // The token is asked for first, and the end-to-end keys are made while it comes (neither
    // waits for the other).
    const token = requestToken();
    if (!this.e2ee) this.e2ee = new E2EE((msg) => this.socket && this.socket.send(msg));
    const keys = this.e2ee.prepare();
    try {
      this.join = await token;
    } catch (error) {
      button.disabled = false;
      if (LINK_PROBLEMS.has(error.status) && explainLinkProblem()) return;
      $('join-status').textContent = t('The connection did not work. Please check the internet connection and try again.');
      return;
    }
    await keys;
    this.e2ee.setMe(this.join.participant.id);
    this.e2ee.addEventListener('change', () => {
      if (this.view) this.view.setE2EE(this.e2ee.state, this.e2ee.code, this.e2ee.reason, this.e2ee.agreements,
        this.e2ee.codeDigest);
    });
    // Token expiry is in server time; page.now is the server's clock when the page was made.
    const skew = page.now ? this.loadedAt - page.now : 0;
    this.socket = new RoomSocket(this.join.ws_url, this.join.token, this.join.exp, skew);
    this.socket.addEventListener('message', (event) => this.onMessage(event.detail));
    this.socket.addEventListener('reconnecting', () => this.onReconnecting());
    this.socket.addEventListener('closed', (event) => this.onClosed(event.detail.code));
    this.socket.addEventListener('authfailed', () => this.renewToken());
    this.socket.connect();
  }

  async renewToken() {
    try {
      const fresh = await requestToken();
      this.socket.resume(fresh.token, fresh.exp);
    } catch (error) {
      if (LINK_PROBLEMS.has(error.status)) this.finish('ended');
      else setTimeout(() => this.renewToken(), 3000);
    }
  }

  onMessage(msg) {
    switch (msg.type) {
      case 'waiting': this.onWaiting(msg); break;
      case 'host': this.waitingRoom.host(Boolean(msg.present)); break;
      case 'lobby_message': this.waitingRoom.note(msg); break;
      case 'hello': this.onHello(msg); break;
      case 'lobby': this.view.lobby(msg.waiting || []); break;
      case 'presence':
        this.view.presence(msg);
        this.e2ee.setPresent(this.view.presentIds());
        // Whoever comes in did not hear what is off or missing here: tell them.
        if (msg.state === 'joined' && msg.participant !== this.view.me) this.tellOffAndMissing();
        break;
      case 'chat': this.view.chat(msg); break;
      case 'mute':
        this.view.setMuted(msg.participant || msg.from, msg.kind, msg.muted, msg.missing === true);
        break;
      case 'media_status': this.view.mediaStatus(msg); break;
      case 'panel':
        // One panel: a document or a course section; what opens makes the other give way.
        if (msg.panel === 'learning') this.learn.panel(msg);
        else {
          if (msg.action !== 'close') this.learn.hide();
          this.docs.panel(msg);
        }
        break;
      case 'consent_request': this.docs.request(msg); break;
      case 'consent': this.docs.consent(msg); break;
      case 'consent_withdrawn': this.docs.withdrawnNotice(msg); break;
      case 'e2ee': this.e2ee.onMessage(msg.from, msg.data); break;
      case 'offer': case 'answer': case 'candidate':
        if (this.media) this.media.handle(msg);
        break;
      case 'denied': this.finish('denied'); break;
      case 'ended': this.finish('ended'); break;
      case 'replaced': this.finish('replaced'); break;
      case 'error':
        if (msg.code === 'media_moved') {
          // The media server is restarting: reconnect, and the call goes on on another one.
          this.rebuildMedia();
        } else if (msg.code === 'media_unavailable') {
          $('reconnect-banner').textContent = t('Sound and picture are not available at the moment. Chat still works.');
          $('reconnect-banner').hidden = false;
        }
        break;
      default: break;
    }
  }

  onWaiting(msg) {
    show('waiting'); // first: the device check needs the section shown
    this.waitingRoom.enter(msg);
    announce(`${t('You are in the waiting room.')} ${$('waiting-text').textContent}`);
    this.wasWaiting = true;
  }

  onHello(msg) {
    this.waitingRoom.leave();
    const again = this.inCall;
    if (!this.view) this.view = new CallView({ onAction: (a, d) => this.onViewAction(a, d) });
    this.view.hello(msg);
    if (!this.docs) {
      this.docs = new DocPanel({
        send: (m) => this.socket.send(m),
        token: () => this.socket.token,
        name: (id) => this.view.name(id),
      });
      this.docs.hello(msg);
      this.learn = new LearnPanel({
        send: (m) => this.socket.send(m),
        token: () => this.socket.token,
        onShow: () => this.docs.hide(),
      });
      this.learn.hello(msg);
      this.docs.onOpen = () => this.learn.hide();
    }
    this.view.setLocal(this.devices.stream);
    this.view.setReconnecting(false);
    this.rebuilding = false;
    for (const kind of ['audio', 'video']) {
      this.view.setMuted(msg.participant.id, kind, this.muted[kind] || this.missing[kind], this.missing[kind]);
    }
    $('btn-end').hidden = !(msg.grants && msg.grants.moderate);
    if (!this.quality) {
      this.quality = new QualityWatch(
        () => this.media,
        (pid, figures) => this.view.setQuality(pid, figures),
        (state) => this.view.setUplink(state),
      );
    }
    if (!this.inCall) {
      this.inCall = true;
      show('call');
      announce(this.wasWaiting ? t('You have been let in. The call begins.') : t('You are in the call.'));
    } else if (again) {
      announce(t('Connected again.'));
    }
    this.startMedia(
      msg.ice_servers || this.join.ice_servers,
      msg.ice_transport_policy || this.join.ice_transport_policy,
    );
    this.e2ee.setPresent(this.view.presentIds());
    this.e2ee.announce();
    this.view.setE2EE(this.e2ee.state, this.e2ee.code, this.e2ee.reason, this.e2ee.agreements,
        this.e2ee.codeDigest);
    // Tell the others what is off (they may have missed it while we were away).
    this.tellOffAndMissing();
  }

  tellOffAndMissing() {
    for (const kind of ['audio', 'video']) {
      if (this.muted[kind] || this.missing[kind]) this.tellMute(kind);
    }
  }

  /** Drop the peer connections (nothing stale may reach the next media server over the new
   * socket) and reconnect; `hello` then starts media afresh. */
  rebuildMedia() {
    clearTimeout(this.retryTimer);
    this.rebuilding = true;
    if (this.media) this.media.close();
    this.media = null;
    this.socket.reconnectNow();
  }

  startMedia(iceServers, iceTransportPolicy) {
    clearTimeout(this.retryTimer);
    if (this.media) this.media.close();
    this.media = new MediaSession({
      send: (m) => this.socket.send(m),
      iceServers,
      iceTransportPolicy,
      transforms: this.e2ee.support ? this.e2ee : null,
      simulcast: Boolean(page.camera && page.camera.simulcast),
      cameraHeight: page.camera ? page.camera.height : 0,
    });
    this.media.addEventListener('track', (event) => {
      const { participant, source, track } = event.detail;
      this.view.addTrack(participant, source, track);
    });
    this.media.addEventListener('trackgone', (event) => {
      this.view.removeTrack(event.detail.participant, event.detail.source);
    });
    this.media.addEventListener('failed', (event) => this.onMediaFailed(event.detail));
    this.media.addEventListener('stalled', (event) => this.reportMediaTrouble(event.detail));
    this.media.addEventListener('connected', () => this.onMediaConnected());
    // Our own tracks are added in a task of their own, so that the others' subscriber offer,
    // which the server sends with `hello`, can be taken up first (our own negotiation holds
    // the page's thread: Chromium's createOffer held it for about 40 ms in the join benchmark).
    const othersPresent = this.view.presentIds().some((id) => id !== this.view.me);
    const media = this.media;
    setTimeout(() => {
      if (this.media !== media || media.closed) return;
      media.start(this.devices.audioTrack, this.devices.videoTrack, { othersPresent });
      if (this.screenTrack) media.shareScreen(this.screenTrack);
    }, 0);
  }

  /**
   * Our sound and picture do not get through (a connection broke, or did not connect in
   * time): say so and what may help, tell the others (the server logs the ICE states), and
   * try again with fresh connections, as the page does after any media failure.
   */
  onMediaFailed(detail) {
    this.reportMediaTrouble(detail);
    const { pc, reason } = detail;
    const delay = RETRY_DELAYS[Math.min(this.mediaFailures, RETRY_DELAYS.length - 1)];
    this.mediaFailures += 1;
    console.info(`media ${pc || ''} ${reason}: trying again in ${delay} ms`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.rebuildMedia(), delay);
  }

  /** Say that our sound and picture do not get through, and tell the room (and its log). */
  reportMediaTrouble({ pc, reason, history }) {
    this.socket.send({ type: 'media_status', state: 'failed', pc, reason, history });
    // An unanswered offer is the media server's trouble, not the network's: no advice then.
    if (!this.mediaTrouble && reason !== 'answer') {
      this.mediaTrouble = true;
      // Sound only helps a weak connection, not one that never connected.
      this.view.setMediaHelp(true, this.mediaWorked && !this.muted.video);
      announce(t('Your picture and sound cannot get through. Your network may block video calls.'));
    }
  }

  onMediaConnected() {
    this.mediaFailures = 0;
    this.mediaWorked = true;
    if (!this.mediaTrouble) return;
    this.mediaTrouble = false;
    this.view.setMediaHelp(false, false);
    this.socket.send({ type: 'media_status', state: 'ok' });
    announce(t('Your picture and sound get through again.'));
  }

  onReconnecting() {
    if (!this.inCall) return;
    // A reconnect we started because media failed: the help box already says we keep trying.
    if (this.rebuilding && this.mediaTrouble) return;
    this.view.setReconnecting(true);
    announce(t('Connection lost. Reconnecting…'));
  }

  onClosed(code) {
    const reasons = { 4403: 'denied', 4409: 'replaced', 4410: 'ended' };
    this.finish(reasons[code] || 'error');
  }

  onViewAction(action, detail) {
    if (action === 'admit' || action === 'deny') {
      this.socket.send({ type: action, participant: detail.participant });
    } else if (action === 'chat') {
      this.socket.send({ type: 'chat', text: detail.text });
    } else if (action === 'lobby_message') {
      this.socket.send({ type: 'lobby_message', text: detail.text });
    } else if (action === 'view') {
      this.socket.send({ type: 'view', heights: detail.heights });
    }
  }

  bindControls() {
    $('btn-mic').addEventListener('click', () => this.toggleMute('audio'));
    $('btn-cam').addEventListener('click', () => this.toggleMute('video'));
    $('btn-flip').addEventListener('click', () => this.devices.flipCamera());
    $('btn-chat').addEventListener('click', () => this.view.toggleChat($('chat').hidden));
    $('btn-screen').addEventListener('click', () => this.toggleScreen());
    $('btn-leave').addEventListener('click', () => this.askLeave());
    $('leave-stay').addEventListener('click', () => $('leave-dialog').close());
    $('leave-confirm').addEventListener('click', () => {
      $('leave-dialog').close();
      this.leave();
    });
    $('waiting-leave').addEventListener('click', () => this.leave());
    $('btn-end').addEventListener('click', () => this.endForAll());
    $('media-audio-only').addEventListener('click', () => {
      if (!this.muted.video) this.toggleMute('video');
      $('media-audio-only').hidden = true;
    });
    $('rejoin').addEventListener('click', () => window.location.reload());
    $('e2ee-status').addEventListener('click', () => {
      const details = $('e2ee-details');
      details.hidden = !details.hidden;
      $('e2ee-status').setAttribute('aria-expanded', String(!details.hidden));
    });
    const desktop = navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia &&
      !window.matchMedia('(pointer: coarse)').matches;
    $('btn-screen').hidden = !desktop;
  }

  toggleMute(kind) {
    if (this.missing[kind]) return;
    const muted = !this.muted[kind];
    this.muted[kind] = muted;
    this.devices.setEnabled(kind, !muted);
    this.showMuteButton(kind);
    if (this.view) this.view.setMuted(this.view.me, kind, muted);
    if (this.socket) this.socket.send({ type: 'mute', kind, muted });
    announce(kind === 'audio'
      ? (muted ? t('Your microphone is off.') : t('Your microphone is on.'))
      : (muted ? t('Your camera is off.') : t('Your camera is on.')));
  }

  /** The microphone or camera button as the device's state says. */
  showMuteButton(kind) {
    const muted = this.muted[kind];
    const button = kind === 'audio' ? $('btn-mic') : $('btn-cam');
    button.setAttribute('aria-pressed', String(muted));
    button.querySelector('span').textContent = kind === 'audio'
      ? (muted ? t('Unmute') : t('Mute'))
      : (muted ? t('Camera on') : t('Camera off'));
    button.querySelector('img').src = kind === 'audio'
      ? (muted ? '/static/img/mic-off.svg' : '/static/img/mic.svg')
      : (muted ? '/static/img/camera-off.svg' : '/static/img/camera.svg');
  }

  async toggleScreen() {
    const button = $('btn-screen');
    if (this.screenTrack) {
      this.stopScreen();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      this.screenTrack = stream.getVideoTracks()[0];
    } catch (error) {
      return; // the person chose not to share
    }
    this.screenTrack.addEventListener('ended', () => this.stopScreen());
    if (this.media) await this.media.shareScreen(this.screenTrack);
    this.socket.send({ type: 'mute', kind: 'screen', muted: false });
    button.setAttribute('aria-pressed', 'true');
    button.querySelector('span').textContent = t('Stop sharing');
    announce(t('You are sharing your screen.'));
  }

  stopScreen() {
    if (!this.screenTrack) return;
    this.screenTrack.stop();
    this.screenTrack = null;
    if (this.media) this.media.stopScreen();
    this.socket.send({ type: 'mute', kind: 'screen', muted: true });
    $('btn-screen').setAttribute('aria-pressed', 'false');
    $('btn-screen').querySelector('span').textContent = t('Share screen');
    announce(t('You stopped sharing your screen.'));
  }

  endForAll() {
    const button = $('btn-end');
    const label = button.querySelector('span');
    if (!this.endArmed) {
      label.textContent = t('Tap again to end for everyone');
      this.endArmed = setTimeout(() => {
        this.endArmed = null;
        label.textContent = t('End for everyone');
      }, 5000);
      announce(t('Tap again to end for everyone'));
      return;
    }
    clearTimeout(this.endArmed);
    this.socket.send({ type: 'end' });
  }

  /**
   * Leave asks first (issue 11, item 8): a jobseeker holding a tablet taps it by mistake easily,
   * and leaving tells everyone and may put them back in the waiting room. Escape or "Stay in
   * the call" closes the question and focus returns to the Leave button.
   */
  askLeave() {
    const dialog = $('leave-dialog');
    if (typeof dialog.showModal !== 'function') {
      this.leave();
      return;
    }
    dialog.showModal();
    $('leave-stay').focus();
  }

  leave() {
    if (this.socket) this.socket.leave();
    this.finish('left');
  }

  finish(reason) {
    if (this.finished) return;
    this.finished = true;
    if ($('leave-dialog').open) $('leave-dialog').close();
    clearTimeout(this.retryTimer);
    if (this.quality) this.quality.stop();
    if (this.socket) this.socket.stop();
    if (this.media) this.media.close();
    if (this.view) this.view.destroy();
    this.stopMeter();
    this.waitingRoom.leave();
    this.devices.stop();
    if (this.screenTrack) this.screenTrack.stop();
    // Over before anyone let them in: no thanks for taking part, but what to do now.
    if (reason === 'ended' && this.wasWaiting && !this.inCall) reason = 'missed';
    const texts = {
      ended: [t('The appointment has ended'), t('Thank you for taking part. You can close this page now.')],
      missed: [t('This appointment is over'), t('You were not let in before the appointment ended. Please contact your job centre to arrange a new appointment.')],
      left: [t('You have left the appointment'), t('If you left by mistake, you can join again while the appointment lasts.')],
      denied: [t('You were not let in'), t('Please contact your job centre if you think this is a mistake.')],
      replaced: [t('The appointment is open somewhere else'), t('You joined from another window or device, so this page has stopped.')],
      error: [t('The connection was lost'), t('You can try to join again while the appointment lasts.')],
    };
    const [title, text] = texts[reason] || texts.error;
    $('ended-title').textContent = title;
    $('ended-text').textContent = text;
    $('rejoin').hidden = !(reason === 'left' || reason === 'error' || reason === 'replaced');
    show('ended');
    announce(title);
  }
}

function waitForWindow() {
  // Open the appointment by itself when its window opens (server time, not the device's).
  const skew = Date.now() / 1000 - (page.now || Date.now() / 1000);
  const wait = (page.opens_at + skew) * 1000 - Date.now() + 1000 + Math.random() * 4000;
  if (wait > 0 && wait < 24 * 3600 * 1000) setTimeout(() => window.location.reload(), wait);
}

if (page.state === 'too_early') {
  waitForWindow();
  earlyDeviceCheck();
} else if (page.state === 'open') {
  new JoinPage().start();
}
