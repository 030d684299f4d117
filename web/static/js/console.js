// The caseworker console: today's and upcoming appointments with live status, admitting and
// declining, ending and cancelling, and the form that schedules an appointment and shows its
// join links with copy buttons and QR codes.

import { announce } from './announcer.js';
import { el } from './dom.js';
import { api } from './api.js';
import { DocumentsPanel } from './console-documents.js';
import { addInterpreter, addInterpreterButton } from './console-interpreter.js';
import { KindChoice, attendanceButtons, whereLine } from './console-kind.js';
import { ProfilePanel } from './console-profiles.js';
import { TrailPanel } from './console-trail.js';
import { keepFresh } from './console-live.js';
import { WaitingAlert } from './console-waiting.js';
import {
  AppointmentEditor, ListFilters, addSlip, languageName, printAll,
} from './console-schedule.js';
import {
  dateAndTimeInZone, isoInZone, locale, page, roleName, t, timeZone, wallClock, zoneMidnight, zonedToEpochMs,
} from './i18n.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 4000; // while the live socket is down

// Times as the job centre reads them: in the server's `timezone` setting, not the device's.
const timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: 'short', timeZone });
const dateFormat = new Intl.DateTimeFormat(locale, { weekday: 'long', day: 'numeric', month: 'long', timeZone });

function stateText(state) {
  switch (state) {
    case 'not_started': return t('Not started');
    case 'waiting': return t('Someone is waiting');
    case 'in_call': return t('In call');
    case 'ended': return t('Ended');
    case 'no_show': return t('No-show');
    case 'attended': return t('Attended');
    case 'to_mark': return t('Attendance not marked yet');
    case 'cancelled': return t('Cancelled');
    default: return state;
  }
}

function memberText(status) {
  switch (status) {
    case 'waiting': return t('is waiting');
    case 'admitted': return t('in the call');
    case 'reconnecting': return t('reconnecting');
    default: return t('not here');
  }
}

// ---- two-step buttons (no blocking dialogs) --------------------------------------------

const armed = new Map();

/** True on the second press within five seconds; the first press asks for confirmation. */
function confirmed(button, question) {
  const key = button.dataset.key;
  if (armed.has(key)) {
    clearTimeout(armed.get(key).timer);
    armed.delete(key);
    return true;
  }
  const original = button.textContent;
  button.textContent = question;
  announce(question);
  const timer = setTimeout(() => {
    armed.delete(key);
    button.textContent = original;
  }, 5000);
  armed.set(key, { timer });
  return false;
}

// ---- the appointment list --------------------------------------------------------------

class AppointmentList {
  constructor() {
    this.box = $('appointment-groups');
    this.known = new Map(); // appointment id -> signature
    this.asked = 0; // refreshes started; only the latest one's answer is shown
    this.alert = new WaitingAlert();
    this.filters = new ListFilters(() => {
      this.lastSignature = null;
      this.refresh();
    });
    this.editor = new AppointmentEditor(() => {
      this.lastSignature = null;
      this.refresh();
    });
    this.shown = new Map(); // appointment id -> the appointment as last listed
    this.box.addEventListener('click', (event) => this.onClick(event));
    this.box.addEventListener('submit', (event) => this.onLobbyMessage(event));
  }

  /** Day boundaries (epoch seconds) in the job centre's zone: a day there may be 23 or 25 hours. */
  range() {
    const now = Date.now();
    return {
      from: zoneMidnight(now, -1) / 1000, // yesterday too: its no-shows
      to: zoneMidnight(now, 30) / 1000,
      today: zoneMidnight(now, 0) / 1000,
      tomorrow: zoneMidnight(now, 1) / 1000,
    };
  }

  /** Fetch and show the list as the filters ask; anything may call it (a live update too).
   * The latest call wins: an answer to an earlier one (asked with the filters as they were
   * then) that comes back later is dropped, so a live update under way when the filters
   * change cannot put the unfiltered list back over the filtered one. */
  async refresh() {
    const asked = ++this.asked;
    const range = this.range();
    const { params, grouped } = this.filters.query(range);
    try {
      const data = await api('GET', `/api/appointments?${params}`);
      if (asked !== this.asked) return; // a later refresh shows its own answer
      $('list-error').hidden = true;
      this.render(data.appointments || [], range.today, range.tomorrow, grouped);
      if (!grouped) {
        // A filtered list may hide someone who waits: the alert watches today and upcoming.
        const watched = await api('GET', `/api/appointments?from=${range.from}&to=${range.to}`);
        this.alert.update(watched.appointments || []);
      }
      $('list-updated').textContent = t('Updated {time}', { time: timeFormat.format(new Date()) });
    } catch (error) {
      if (error.status === 401) {
        window.location.assign('/console/login');
        return;
      }
      $('list-error').textContent = t('The list could not be updated. Retrying…');
      $('list-error').hidden = false;
    }
  }

  render(appointments, today, tomorrow, grouped = true) {
    if (grouped) this.alert.update(appointments);
    this.shown = new Map(appointments.map((a) => [a.id, a]));
    const signature = JSON.stringify([today, grouped, appointments]); // a new day regroups
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    const groups = grouped ? [
      [t('Today'), appointments.filter((a) => a.starts_at >= today && a.starts_at < tomorrow)],
      [t('Upcoming'), appointments.filter((a) => a.starts_at >= tomorrow)],
      [t('Yesterday'), appointments.filter((a) => a.starts_at < today)],
    ] : [[this.filters.describe(appointments.length), appointments]];
    const focusKey = document.activeElement && this.box.contains(document.activeElement)
      ? document.activeElement.dataset.key : null;
    // A message to a waiting room being typed survives the list's refresh.
    const drafts = new Map([...this.box.querySelectorAll('input[data-key]')]
      .filter((input) => input.value).map((input) => [input.dataset.key, input.value]));
    const fresh = [];
    for (const [title, list] of groups) {
      if (!list.length && grouped && title !== t('Today')) continue;
      const ul = el('ul', { className: 'appointment-list' });
      for (const a of list) ul.append(this.card(a));
      if (!list.length) ul.append(el('li', { className: 'hint', text: t('No appointments.') }));
      fresh.push(el('h3', { className: 'group-title', text: title }), ul);
    }
    this.box.replaceChildren(...fresh);
    for (const [key, value] of drafts) {
      const input = this.box.querySelector(`input[data-key="${CSS.escape(key)}"]`);
      if (input) input.value = value;
    }
    if (focusKey) {
      const again = this.box.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  card(a) {
    const state = a.live.state;
    // In person or by phone: no room, so no links, waiting room, joining or interpreter links.
    const video = (a.kind || 'video') === 'video';
    const live = video && !['ended', 'no_show', 'cancelled'].includes(state) && a.status === 'scheduled';
    const start = new Date(a.starts_at * 1000);
    const end = new Date(a.ends_at * 1000);
    const headingId = `ap-${a.id}`;
    const people = el('ul', { className: 'people' });
    for (const p of a.participants) {
      const status = (a.live.members || {})[p.id];
      const consent = (a.live.consents || {})[p.id];
      const facts = [roleName(p.role), languageName(p.lang), memberText(status)];
      facts.push(consent
        ? t('agreed at {time}', { time: timeFormat.format(new Date(consent * 1000)) })
        : t('no consent yet'));
      // Someone just let in has been in the call for under a second: still "1 min".
      const seconds = (a.live.seconds_in_call || {})[p.id] || 0;
      if (seconds || status === 'admitted') {
        facts.push(t('{minutes} min in the call', { minutes: Math.max(1, Math.round(seconds / 60)) }));
      }
      const actions = el('span', { className: 'person-actions' });
      if (status === 'waiting' && live) {
        actions.append(
          el('button', { type: 'button', className: 'button primary', 'data-action': 'admit', 'data-id': a.id, 'data-pid': p.id, 'data-key': `admit:${a.id}:${p.id}`, 'aria-label': t('Let {name} in', { name: p.name }), text: t('Let in') }),
          el('button', { type: 'button', className: 'button secondary', 'data-action': 'deny', 'data-id': a.id, 'data-pid': p.id, 'data-key': `deny:${a.id}:${p.id}`, 'aria-label': t('Do not let {name} in', { name: p.name }), text: t('Decline') }),
        );
      }
      if (video && a.status === 'scheduled' && state !== 'no_show') {
        actions.append(el('button', { type: 'button', className: 'button link', 'data-action': 'reissue', 'data-id': a.id, 'data-pid': p.id, 'data-key': `reissue:${a.id}:${p.id}`, 'aria-label': t('New link for {name}', { name: p.name }), text: t('New link') }));
      }
      people.append(el('li', { className: 'person', 'data-pid': p.id, 'data-status': status || 'absent' },
        el('bdi', { className: 'person-name', text: p.name }),
        el('span', { className: 'person-facts', text: facts.join(' · ') }),
        actions));
    }
    const someoneWaits = Object.values(a.live.members || {}).includes('waiting');
    const note = live && someoneWaits ? lobbyMessageForm(a) : '';
    const buttons = el('div', { className: 'appointment-actions' });
    if (live) {
      // The host joins on her staff session (no link needed), in a tab of its own so that
      // this list keeps watching the waiting room.
      buttons.append(el('a', {
        className: 'button primary', href: `/console/join/${encodeURIComponent(a.id)}`, target: '_blank', rel: 'noopener',
        'data-action-link': 'join', 'data-key': `join:${a.id}`,
        'aria-label': t('Join the call “{title}” (opens a new tab)', { title: a.title }), text: t('Join the call'),
      }));
    }
    if (live && (state === 'in_call' || state === 'waiting')) {
      buttons.append(el('button', { type: 'button', className: 'button danger', 'data-action': 'end', 'data-id': a.id, 'data-key': `end:${a.id}`, text: t('End call') }));
    }
    // Only the caseworker who scheduled it may change it or add someone (the server says 403
    // to a colleague): her colleagues may stand in for her in the call, not rearrange it.
    if (a.mine && a.status === 'scheduled' && a.ends_at * 1000 > Date.now() && !someoneIn(a)) {
      buttons.append(el('button', { type: 'button', className: 'button secondary', 'data-action': 'edit', 'data-id': a.id, 'data-key': `edit:${a.id}`, 'aria-label': t('Change “{title}”', { title: a.title }), text: t('Change') }));
    }
    if (live && a.mine) buttons.append(addInterpreterButton(a));
    buttons.append(...attendanceButtons(a));
    if (a.status === 'scheduled' && state !== 'no_show' && state !== 'attended') {
      buttons.append(el('button', { type: 'button', className: 'button secondary', 'data-action': 'cancel', 'data-id': a.id, 'data-key': `cancel:${a.id}`, text: t('Cancel appointment') }));
    }
    return el('li', { className: 'appointment', 'data-id': a.id, 'data-state': state, 'aria-labelledby': headingId },
      el('div', { className: 'appointment-head' },
        el('span', { className: 'appointment-time', text: `${dateFormat.format(start)}, ${timeFormat.format(start)}–${timeFormat.format(end)}` }),
        el('h3', { id: headingId, text: a.title }),
        el('span', { className: 'state-badge', 'data-state': state, text: stateText(state) })),
      whereLine(a), people, a.notes ? notesLine(a.notes) : '', note, buttons);
  }

  /** The caseworker writes to an appointment's waiting room ("I am running 5 minutes late"). */
  async onLobbyMessage(event) {
    const form = event.target.closest('form[data-action="lobby-message"]');
    if (!form) return;
    event.preventDefault();
    const input = form.querySelector('input');
    const text = input.value.trim();
    if (!text) return;
    const status = form.querySelector('.lobby-message-status');
    try {
      await api('POST', `/api/appointments/${encodeURIComponent(form.dataset.id)}/lobby_message`, { text });
      input.value = '';
      status.textContent = t('Sent to the waiting room.');
    } catch (error) {
      status.textContent = t('That did not work: {reason}', { reason: error.message });
    }
  }

  async onClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const { action, id, pid } = button.dataset;
    if (action === 'edit') {
      if (this.shown.has(id)) this.editor.open(this.shown.get(id), button);
      return;
    }
    try {
      if (action === 'admit' || action === 'deny') {
        await api('POST', `/api/appointments/${encodeURIComponent(id)}/${action}`, { participant: pid });
        announce(action === 'admit' ? t('Let in.') : t('Declined.'));
      } else if (action === 'end') {
        if (!confirmed(button, t('Press again to end the call'))) return;
        await api('POST', `/api/appointments/${encodeURIComponent(id)}/end`, {});
        announce(t('The call was ended.'));
      } else if (action === 'attended' || action === 'absent') {
        await api('POST', `/api/appointments/${encodeURIComponent(id)}/attendance`, { attended: action === 'attended' });
        announce(action === 'attended' ? t('Marked: came.') : t('Marked: did not come.'));
      } else if (action === 'cancel') {
        if (!confirmed(button, t('Press again to cancel the appointment'))) return;
        await api('POST', `/api/appointments/${encodeURIComponent(id)}/cancel`, {});
        announce(t('The appointment was cancelled.'));
      } else if (action === 'add-interpreter') {
        const appointment = await api('GET', `/api/appointments/${encodeURIComponent(id)}`);
        const added = await addInterpreter(appointment.appointment);
        if (added) {
          announce(t('{name} was added to the appointment.', { name: added.participant.name }));
          showLinks(added.appointment, [added.join_url]);
        }
      } else if (action === 'reissue') {
        if (!confirmed(button, t('Press again: the old link stops working'))) return;
        const data = await api('POST', `/api/appointments/${encodeURIComponent(id)}/participants/${encodeURIComponent(pid)}/reissue`, {});
        const appointment = await api('GET', `/api/appointments/${encodeURIComponent(id)}`);
        const person = appointment.appointment.participants.find((p) => p.id === pid);
        showLinks(appointment.appointment, [{ participant: pid, role: person.role, name: person.name, url: data.url }]);
      }
    } catch (error) {
      announce(t('That did not work: {reason}', { reason: error.message }));
      $('list-error').textContent = t('That did not work: {reason}', { reason: error.message });
      $('list-error').hidden = false;
    }
    this.lastSignature = null;
    await this.refresh();
  }
}

function notesLine(text) {
  return el('p', { className: 'appointment-notes' },
    el('span', { className: 'notes-label', text: t('Notes:') }), ' ', el('bdi', { text }));
}

/** Whether anyone is connected to the appointment's room (it cannot be changed then). */
function someoneIn(a) {
  return Object.values(a.live.members || {}).some((status) => status && status !== 'left');
}

function lobbyMessageForm(a) {
  const inputId = `lobby-message-${a.id}`;
  return el('form', { className: 'lobby-message', 'data-action': 'lobby-message', 'data-id': a.id },
    el('label', { for: inputId, text: t('Message to the waiting room') }),
    el('span', { className: 'field-row' },
      el('input', { id: inputId, name: 'text', maxlength: '300', autocomplete: 'off', 'data-key': `lobby:${a.id}` }),
      el('button', { type: 'submit', className: 'button secondary', 'data-key': `lobby-send:${a.id}`, text: t('Send') })),
    el('span', { className: 'lobby-message-status hint', role: 'status' }));
}

// ---- join links with copy buttons and QR codes -----------------------------------------

async function qrInto(box, url, name) {
  try {
    const svgText = await api('POST', '/console/qr', { url });
    const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    const svg = document.importNode(doc.documentElement, true);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', t('QR code of the link for {name}', { name }));
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    box.replaceChildren(svg);
  } catch (error) {
    box.replaceChildren(el('p', { className: 'hint', text: t('The QR code could not be made.') }));
  }
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    input.select();
    document.execCommand('copy');
  }
}

function showLinks(appointment, joinUrls) {
  const start = new Date(appointment.starts_at * 1000);
  $('links-summary').textContent = `${appointment.title} · ${dateFormat.format(start)}, ${timeFormat.format(start)}`;
  const list = $('link-list');
  list.replaceChildren();
  joinUrls.forEach((link, index) => {
    const inputId = `link-${index}`;
    const input = el('input', { type: 'text', id: inputId, className: 'link-url', readonly: true, value: link.url, dir: 'ltr' });
    const copy = el('button', { type: 'button', className: 'button primary', text: t('Copy link'), 'aria-describedby': `link-title-${index}` });
    copy.addEventListener('click', async () => {
      await copyText(link.url, input);
      copy.textContent = t('Copied');
      announce(t('Link for {name} copied.', { name: link.name }));
      setTimeout(() => { copy.textContent = t('Copy link'); }, 3000);
    });
    const qr = el('div', { className: 'qr' });
    list.append(el('li', { className: 'link-card', 'data-role': link.role, 'data-pid': link.participant },
      el('h3', { id: `link-title-${index}` }, el('bdi', { text: link.name }), ` (${roleName(link.role)})`),
      el('label', { for: inputId, className: 'visually-hidden', text: t('Link for {name}', { name: link.name }) }),
      input, qr, el('div', { className: 'link-actions' }, copy)));
    qrInto(qr, link.url, link.name);
    addSlip(list.lastElementChild, appointment.id, link, index);
  });
  $('links').hidden = false;
  $('links').focus();
}

// ---- the scheduling form ---------------------------------------------------------------

class ScheduleForm {
  constructor(onScheduled) {
    this.onScheduled = onScheduled;
    this.form = $('schedule-form');
    this.rows = $('participant-rows');
    this.counter = 0;
    this.kind = new KindChoice();
    this.addRow('caseworker', (page.user && page.user.display_name) || '', 'de');
    this.addRow('jobseeker', '', page.lang === 'de' ? 'de' : page.lang);
    $('add-participant').addEventListener('click', () => {
      const row = this.addRow('employer', '', 'de');
      row.querySelector('[data-name="name"]').focus();
    });
    this.rows.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action="remove"]');
      if (!button) return;
      button.closest('li').remove();
      this.renumber();
      $('add-participant').focus();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.setDefaults();
  }

  /** A quarter of an hour from now, rounded up to the quarter, on the job centre's clock. */
  setDefaults() {
    const w = wallClock(Date.now() + 15 * 60000);
    // Calendar arithmetic on the zone's wall clock (UTC fields carry it; no zone involved).
    const soon = Date.UTC(w.year, w.month - 1, w.day, w.hour, Math.ceil(w.minute / 15) * 15);
    const wall = dateAndTimeInZone(soon, 'UTC');
    $('f-date').value = wall.date;
    $('f-start').value = wall.time;
  }

  addRow(role, name, lang) {
    const row = $('participant-row').content.firstElementChild.cloneNode(true);
    this.counter += 1;
    for (const label of row.querySelectorAll('label[data-for]')) {
      const control = row.querySelector(`[data-name="${label.dataset.for}"]`);
      control.id = `p${this.counter}-${label.dataset.for}`;
      label.htmlFor = control.id;
    }
    const error = row.querySelector('[data-error="name"]');
    error.id = `p${this.counter}-name-error`;
    row.querySelector('[data-name="name"]').setAttribute('aria-describedby', error.id);
    row.querySelector('[data-name="role"]').value = role;
    row.querySelector('[data-name="name"]').value = name;
    row.querySelector('[data-name="lang"]').value = lang;
    this.rows.append(row);
    this.renumber();
    return row;
  }

  /** A deleted profile no longer stands behind the jobseeker row. */
  forgetProfile(profileId) {
    if (!this.profile || this.profile.id !== profileId) return;
    this.profile = null;
    for (const row of this.rows.children) {
      if (row.dataset.profile === profileId) delete row.dataset.profile;
    }
  }

  /** Schedule for a profile: its jobseeker row takes the profile's name and language. */
  forProfile(profile) {
    this.profile = profile;
    let row = [...this.rows.children].find((r) => r.querySelector('[data-name="role"]').value === 'jobseeker');
    if (!row) row = this.addRow('jobseeker', '', profile.lang);
    row.dataset.profile = profile.id;
    row.querySelector('[data-name="name"]').value = profile.name;
    row.querySelector('[data-name="lang"]').value = profile.lang;
    for (const control of row.querySelectorAll('select, input')) control.disabled = true;
    $('f-title').focus();
  }

  renumber() {
    const rows = [...this.rows.children];
    rows.forEach((row, i) => {
      row.querySelector('[data-name="name"]').dataset.field = `participants[${i}].name`;
      row.querySelector('[data-name="role"]').dataset.field = `participants[${i}].role`;
      row.querySelector('[data-name="lang"]').dataset.field = `participants[${i}].lang`;
      const remove = row.querySelector('[data-action="remove"]');
      remove.hidden = rows.length <= 2;
      remove.setAttribute('aria-label', t('Remove participant {number}', { number: i + 1 }));
    });
  }

  collect() {
    const errors = [];
    const title = $('f-title').value.trim();
    if (!title) errors.push(['title', t('Please enter a title.')]);
    const date = $('f-date').value;
    const time = $('f-start').value;
    let startsAt = null;
    if (!date || !time) {
      errors.push(['starts_at', t('Please enter the date and start time.')]);
    } else {
      // The date and time the caseworker typed are the job centre's, whatever the device's zone.
      startsAt = zonedToEpochMs(date, time);
      if (Number.isNaN(startsAt)) {
        errors.push(['starts_at', t('Please enter the date and start time.')]);
        startsAt = null;
      }
    }
    const minutes = Number($('f-duration').value);
    const endsAt = startsAt !== null ? startsAt + minutes * 60000 : null;
    if (endsAt !== null && endsAt <= Date.now()) {
      errors.push(['starts_at', t('This time is already over. Please choose a later time.')]);
    }
    // The row standing for a chosen profile goes as profile_id: the server fills it in.
    const rows = [...this.rows.children].filter((row) => !row.dataset.profile);
    const participants = rows.map((row, i) => {
      const name = row.querySelector('[data-name="name"]').value.trim();
      if (!name) errors.push([`participants[${i}].name`, t('Please enter the name of participant {number}.', { number: i + 1 })]);
      return {
        role: row.querySelector('[data-name="role"]').value,
        name,
        lang: row.querySelector('[data-name="lang"]').value,
      };
    });
    if (!participants.some((p) => p.role === 'caseworker')) {
      errors.push(['participants', t('An appointment needs a caseworker.')]);
    }
    if (participants.length + (this.profile ? 1 : 0) < 2) {
      errors.push(['participants', t('An appointment needs at least two participants.')]);
    }
    const body = {
      title,
      starts_at: startsAt !== null ? isoInZone(startsAt) : '',
      ends_at: endsAt !== null ? isoInZone(endsAt) : '',
      waiting_room: $('f-waiting').checked,
      participants,
    };
    const notes = $('f-notes').value.trim();
    if (notes) body.notes = notes;
    if (this.profile) body.profile_id = this.profile.id;
    this.kind.collect(body, errors);
    return { body, errors };
  }

  clearErrors() {
    $('form-errors').hidden = true;
    $('form-error-list').replaceChildren();
    for (const node of this.form.querySelectorAll('[aria-invalid="true"]')) node.removeAttribute('aria-invalid');
    for (const node of this.form.querySelectorAll('.field-error')) {
      node.hidden = true;
      node.textContent = '';
    }
  }

  control(field) {
    return this.form.querySelector(`[data-field="${CSS.escape(field)}"]`);
  }

  showErrors(errors) {
    const list = $('form-error-list');
    for (const [field, message] of errors) {
      const control = this.control(field);
      let target = control ? control.id : null;
      if (control && control.tagName !== 'P') {
        control.setAttribute('aria-invalid', 'true');
        const describedBy = control.getAttribute('aria-describedby');
        const slot = describedBy && document.getElementById(describedBy);
        if (slot) {
          slot.textContent = message;
          slot.hidden = false;
        }
      } else if (control) {
        control.textContent = message;
        control.hidden = false;
        target = 'add-participant';
      }
      const link = el('a', { href: `#${target || 'f-title'}`, text: message });
      link.addEventListener('click', (event) => {
        event.preventDefault();
        const node = document.getElementById(target || 'f-title');
        if (node) node.focus();
      });
      list.append(el('li', {}, link));
    }
    $('form-errors').hidden = false;
    $('form-errors').focus();
  }

  /** A server refusal in the person's language: the field says what is wrong. */
  serverError(error) {
    const field = error.field || '';
    const kindError = KindChoice.serverError(field);
    if (kindError) return kindError;
    if (field === 'title') return ['title', t('Please enter a title (at most 200 characters, one line).')];
    if (field === 'starts_at') return ['starts_at', t('Please enter the date and start time.')];
    if (field === 'ends_at') return ['starts_at', t('This time is already over. Please choose a later time.')];
    if (field === 'participants') return ['participants', t('An appointment needs a caseworker and at least one other participant.')];
    const match = field.match(/^participants\[(\d+)\]\.(\w+)$/);
    if (match) {
      return [`participants[${match[1]}].${match[2] === 'name' ? 'name' : match[2]}`,
        t('Please check participant {number}.', { number: Number(match[1]) + 1 })];
    }
    return ['title', t('The appointment could not be scheduled: {reason}', { reason: error.message })];
  }

  async submit() {
    this.clearErrors();
    const { body, errors } = this.collect();
    if (errors.length) {
      this.showErrors(errors);
      return;
    }
    const button = $('schedule-submit');
    button.disabled = true;
    $('schedule-status').textContent = t('Scheduling…');
    try {
      const data = await api('POST', '/api/appointments', body);
      $('schedule-status').textContent = t('The appointment is scheduled.');
      this.form.reset();
      this.profile = null;
      this.rows.replaceChildren();
      this.addRow('caseworker', (page.user && page.user.display_name) || '', 'de');
      this.addRow('jobseeker', '', 'de');
      this.setDefaults();
      this.kind.reset();
      this.onScheduled(data);
    } catch (error) {
      $('schedule-status').textContent = '';
      if (error.status === 401) {
        window.location.assign('/console/login');
        return;
      }
      this.showErrors([this.serverError(error)]);
    } finally {
      button.disabled = false;
    }
  }
}

// ---- wiring ----------------------------------------------------------------------------

const list = new AppointmentList();
const scheduleForm = new ScheduleForm((data) => {
  // In person or by phone there are no links: the jobseeker's space shows it (with a calendar file).
  if (data.join_urls.length) {
    showLinks(data.appointment, data.join_urls);
  } else {
    announce(t('The appointment is scheduled. It shows in the jobseeker’s space with a calendar file.'));
  }
  list.refresh();
});
const documentsPanel = new DocumentsPanel();
const trailPanel = new TrailPanel();
new ProfilePanel(
  qrInto,
  (profile) => scheduleForm.forProfile(profile),
  (profile) => documentsPanel.open(profile),
  (profile) => trailPanel.open(profile),
  (profile) => {
    documentsPanel.close(profile);
    trailPanel.close(profile);
    scheduleForm.forgetProfile(profile.id);
    $('space-link').hidden = true;
  },
);
$('close-links').addEventListener('click', () => {
  $('links').hidden = true;
  $('f-title').focus();
});
$('print-links').addEventListener('click', printAll);
$('logout').addEventListener('click', async () => {
  try {
    await api('POST', '/api/logout', {});
  } finally {
    window.location.assign('/console/login');
  }
});
list.refresh();
// Also while the tab is hidden: she works in another window and must hear who starts waiting.
// The live socket says when; the poll is the fallback while it is down.
keepFresh(() => list.refresh(), {
  wants: (change) => change.all || change.appointments.length > 0,
  pollMs: POLL_MS,
});
