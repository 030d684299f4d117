// Who waits, for the caseworker who works in another window: the tab's title says how many
// people wait right now ("(1) waiting"), and each one who starts waiting chimes (the
// checkbox turns it off, remembered on this device), is announced to screen readers and,
// once she allowed it with the "Enable notifications" button, shows a browser notification.
// The notification names no one (it may show on a locked screen): only the appointment time.

import { chime, notificationControls, notify, setTitleCount, soundSwitch } from './alerts.js';
import { announce } from './announcer.js';
import { formatTime, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const SOUND_KEY = 'lj-waiting-sound';

export class WaitingAlert {
  constructor() {
    this.waiting = new Set(); // "appointment:participant" waiting at the last look
    this.first = true; // who waits when the console opens is shown, not rung in
    this.soundOn = soundSwitch($('waiting-sound'), SOUND_KEY);
    notificationControls($('enable-notifications'), $('notifications-status'), {
      granted: t('Notifications are on.'),
      denied: t('Notifications are blocked in this browser’s settings.'),
      unsupported: t('This browser cannot show notifications.'),
    });
  }

  /** Compare the appointments' waiting members with the last look. */
  update(appointments) {
    const now = new Set();
    const arrived = [];
    for (const a of appointments) {
      for (const [pid, status] of Object.entries(a.live.members || {})) {
        if (status !== 'waiting') continue;
        const key = `${a.id}:${pid}`;
        now.add(key);
        if (!this.waiting.has(key) && !this.first) arrived.push([a, pid]);
      }
    }
    this.waiting = now;
    this.first = false;
    setTitleCount('waiting', now.size, t('waiting'));
    if (!arrived.length) return;
    for (const [a, pid] of arrived) {
      const person = a.participants.find((p) => p.id === pid);
      announce(t('{name} is waiting: {title}', { name: person ? person.name : '', title: a.title }));
    }
    chime('waitingChimes', this.soundOn());
    const [a] = arrived[arrived.length - 1];
    notify(t('Someone is waiting'), t('Appointment at {time}', { time: formatTime(a.starts_at) }), `lj-waiting-${a.id}`);
  }
}
