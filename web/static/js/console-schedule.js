// The console's scheduling tools beside the list: search and filters (sent to the server as
// query parameters), changing an appointment without new links, the participant's language,
// and per person an invitation in their language, a calendar file and a printable slip.

import { announce } from './announcer.js';
import { api } from './api.js';
import { el } from './dom.js';
import { changedPlaceFields, openPlaceFields } from './console-kind.js';
import {
  dateAndTimeInZone, isoInZone, locale, localeOf, roleName, t, zoneMidnight, zonedToEpochMs,
} from './i18n.js';

const $ = (id) => document.getElementById(id);

let displayNames = null;
try {
  displayNames = new Intl.DisplayNames([locale], { type: 'language' });
} catch (error) {
  displayNames = null;
}

/** A language's name in the console's language ("Türkisch"), or its code. */
export function languageName(code) {
  // Intl knows no name for a private-use tag; easy language has one name in every language.
  if (code === 'de-x-ls') return 'Leichte Sprache';
  try {
    return (displayNames && displayNames.of(code)) || code;
  } catch (error) {
    return code;
  }
}

// ---- search and filters ----------------------------------------------------------------

/** The filter form above the list; `onChange` runs the list's refresh. */
export class ListFilters {
  constructor(onChange) {
    this.form = $('list-filters');
    this.onChange = onChange;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.onChange();
    });
    this.form.addEventListener('reset', () => setTimeout(() => this.onChange(), 0));
    $('filter-status').addEventListener('change', () => this.onChange());
  }

  /**
   * The list's query (URLSearchParams) and whether it shows the default view (today and upcoming,
   * grouped by day, with yesterday's no-shows); `range` holds the default's day boundaries.
   */
  query(range) {
    const params = new URLSearchParams();
    const q = $('filter-q').value.trim();
    const status = $('filter-status').value;
    const fromDate = $('filter-from').value;
    const toDate = $('filter-to').value;
    const grouped = !q && !status && !fromDate && !toDate;
    const now = Date.now();
    let from = range.from;
    let to = range.to;
    if (!grouped) {
      // Past lists look back a year unless told otherwise; the others start yesterday.
      from = fromDate ? zonedToEpochMs(fromDate, '00:00') / 1000
        : (status === 'past' || status === 'all' || status === 'cancelled') ? zoneMidnight(now, -365) / 1000 : range.from;
      to = toDate ? zoneMidnight(zonedToEpochMs(toDate, '12:00'), 1) / 1000
        : status === 'past' ? zoneMidnight(now, 1) / 1000 : zoneMidnight(now, 365) / 1000;
    }
    params.set('from', String(from));
    params.set('to', String(to));
    if (q) params.set('q', q);
    if (status) params.set('status', status);
    return { params, grouped };
  }

  /** Say in words what the list shows now (for the group heading). */
  describe(count) {
    return t('Found: {count}', { count });
  }
}

// ---- changing an appointment -----------------------------------------------------------

/** The dialog that changes an appointment's title, time and participants' names and
 * languages; the links stay as they are. */
export class AppointmentEditor {
  constructor(onSaved) {
    this.onSaved = onSaved;
    this.dialog = $('edit-dialog');
    this.form = $('edit-form');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    $('edit-cancel').addEventListener('click', () => this.close());
    this.dialog.addEventListener('close', () => {
      if (this.opener && document.contains(this.opener)) this.opener.focus();
    });
  }

  open(appointment, opener) {
    this.appointment = appointment;
    this.opener = opener;
    const start = dateAndTimeInZone(appointment.starts_at * 1000);
    const end = dateAndTimeInZone(appointment.ends_at * 1000);
    this.initial = { title: appointment.title, date: start.date, start: start.time, end: end.time };
    $('e-title').value = appointment.title;
    $('e-notes').value = appointment.notes || '';
    $('e-date').value = start.date;
    $('e-start').value = start.time;
    $('e-end').value = end.time;
    openPlaceFields(appointment);
    const rows = appointment.participants.map((p, i) => {
      const row = $('edit-person').content.firstElementChild.cloneNode(true);
      row.dataset.pid = p.id;
      for (const label of row.querySelectorAll('label[data-for]')) {
        const control = row.querySelector(`[data-name="${label.dataset.for}"]`);
        control.id = `e-p${i}-${label.dataset.for}`;
        label.htmlFor = control.id;
      }
      row.querySelector('label[data-for="name"]').textContent = t('Name ({role})', { role: roleName(p.role) });
      row.querySelector('[data-name="name"]').value = p.name;
      row.querySelector('[data-name="lang"]').value = p.lang;
      return row;
    });
    $('edit-people').replaceChildren(...rows);
    this.showError('');
    this.dialog.showModal();
    $('e-title').focus();
  }

  close() {
    this.dialog.close();
  }

  showError(message) {
    $('edit-error').textContent = message;
    $('edit-error').hidden = !message;
  }

  /** Only what changed goes to the server: an unchanged time must not move by its seconds. */
  body() {
    const a = this.appointment;
    const body = {};
    const title = $('e-title').value.trim();
    if (title !== a.title) body.title = title;
    const notes = $('e-notes').value.trim();
    if (notes !== (a.notes || '')) body.notes = notes;
    const date = $('e-date').value;
    const startTime = $('e-start').value;
    const endTime = $('e-end').value;
    const { initial } = this;
    if (date !== initial.date || startTime !== initial.start || endTime !== initial.end) {
      const start = zonedToEpochMs(date, startTime);
      let end = zonedToEpochMs(date, endTime);
      if (Number.isNaN(start) || Number.isNaN(end)) throw new Error(t('Please enter the date, start and end.'));
      if (end <= start) throw new Error(t('The end must be after the start.'));
      if (end <= Date.now()) throw new Error(t('This time is already over. Please choose a later time.'));
      body.starts_at = isoInZone(start);
      body.ends_at = isoInZone(end);
    }
    const people = [];
    for (const row of $('edit-people').children) {
      const before = a.participants.find((p) => p.id === row.dataset.pid);
      const name = row.querySelector('[data-name="name"]').value.trim();
      const lang = row.querySelector('[data-name="lang"]').value;
      if (!name) throw new Error(t('Please enter every name.'));
      const change = { id: before.id };
      if (name !== before.name) change.name = name;
      if (lang !== before.lang) change.lang = lang;
      if (Object.keys(change).length > 1) people.push(change);
    }
    if (people.length) body.participants = people;
    changedPlaceFields(a, body);
    return body;
  }

  async save() {
    let body;
    try {
      body = this.body();
    } catch (error) {
      this.showError(error.message);
      return;
    }
    if (!Object.keys(body).length) {
      this.close();
      return;
    }
    $('edit-save').disabled = true;
    try {
      await api('PATCH', `/api/appointments/${encodeURIComponent(this.appointment.id)}`, body);
      this.close();
      announce(t('The appointment was changed. The links stay the same.'));
      this.onSaved();
    } catch (error) {
      if (error.status === 401) {
        window.location.assign('/console/login');
        return;
      }
      this.showError(editErrorText(error));
    } finally {
      $('edit-save').disabled = false;
    }
  }
}

/** A refusal of the server in the console's language. */
function editErrorText(error) {
  const field = error.field || '';
  const message = error.message || '';
  if (error.status === 403) return t('Only the caseworker who scheduled it may change it.');
  if (error.status === 409 && message.includes('room')) return t('Someone is in the room: change the appointment after the call.');
  if (error.status === 409) return t('This appointment can no longer be changed.');
  if (field === 'ends_at' && message.includes('past')) return t('This time is already over. Please choose a later time.');
  if (field === 'ends_at' && message.includes('12')) return t('An appointment may last at most 12 hours.');
  if (field === 'ends_at' || field === 'starts_at') return t('The end must be after the start.');
  if (field === 'notes') return t('The notes may have at most 2000 characters.');
  if (field === 'title') return t('Please enter a title (at most 200 characters, one line).');
  if (field === 'place' || field === 'address') return t('Please enter the place and the address.');
  if (field === 'bring') return t('What to bring may have at most 500 characters on one line.');
  const match = field.match(/^participants\[(\d+)\]/);
  if (match) return t('Please check participant {number}.', { number: Number(match[1]) + 1 });
  return t('The appointment could not be changed: {reason}', { reason: message });
}

// ---- invitation, calendar file and slip per person -------------------------------------

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (error) {
    return false;
  }
}

async function downloadCalendar(appointmentId, link) {
  const path = `/api/appointments/${encodeURIComponent(appointmentId)}/participants/${encodeURIComponent(link.participant)}/calendar.ics`;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': meta ? meta.content : '' },
    body: JSON.stringify({ url: link.url }),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = el('a', { href, download: 'appointment.ics', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** Print one person's slip only (the others are hidden while printing). */
function printSlip(card) {
  const list = card.closest('.link-list');
  list.dataset.printOne = 'true';
  card.dataset.printing = 'true';
  const done = () => {
    delete list.dataset.printOne;
    delete card.dataset.printing;
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  window.print();
  setTimeout(done, 1000); // browsers that print without an afterprint event
}

/** Print every slip, one per page (whatever a "Print slip" left behind). */
export function printAll() {
  const list = $('link-list');
  delete list.dataset.printOne;
  for (const card of list.querySelectorAll('[data-printing]')) delete card.dataset.printing;
  window.print();
}

/**
 * Make a link card a slip: the invitation in the person's language (date, time, steps, link),
 * a copy button, a calendar file and a print button for this slip only.
 */
export async function addSlip(card, appointmentId, link, index) {
  const box = el('div', { className: 'invitation', id: `invitation-${index}` },
    el('p', { className: 'hint', text: t('Loading…') }));
  const copyButton = el('button', { type: 'button', className: 'button secondary', 'data-action': 'copy-invitation', disabled: true, text: t('Copy invitation'), 'aria-describedby': `link-title-${index}` });
  const icsButton = el('button', { type: 'button', className: 'button secondary', 'data-action': 'calendar', text: t('Calendar file'), 'aria-describedby': `link-title-${index}` });
  const printButton = el('button', { type: 'button', className: 'button secondary', 'data-action': 'print-slip', text: t('Print slip'), 'aria-describedby': `link-title-${index}` });
  const status = el('p', { className: 'hint slip-status', role: 'status' });
  card.querySelector('.qr').after(box);
  card.querySelector('.link-actions').append(copyButton, icsButton, printButton);
  card.append(status);
  icsButton.addEventListener('click', async () => {
    try {
      await downloadCalendar(appointmentId, link);
      status.textContent = t('Calendar file for {name} saved.', { name: link.name });
    } catch (error) {
      status.textContent = t('That did not work: {reason}', { reason: error.message });
    }
  });
  printButton.addEventListener('click', () => printSlip(card));
  try {
    const path = `/api/appointments/${encodeURIComponent(appointmentId)}/participants/${encodeURIComponent(link.participant)}/invitation`;
    const data = await api('POST', path, { url: link.url });
    const heading = el('h4', { className: 'invitation-subject', text: data.subject });
    const text = el('p', { className: 'invitation-text', text: data.text });
    box.replaceChildren(heading, text);
    box.setAttribute('lang', localeOf(data.lang)); // easy language is German to screen readers
    box.setAttribute('dir', data.dir);
    copyButton.disabled = false;
    copyButton.addEventListener('click', async () => {
      const ok = await copy(`${data.subject}\n\n${data.text}`);
      status.textContent = ok ? t('Invitation for {name} copied.', { name: link.name })
        : t('Copying did not work: select the text and copy it.');
      announce(status.textContent);
    });
  } catch (error) {
    box.replaceChildren(el('p', { className: 'hint', text: t('The invitation could not be made.') }));
  }
}
