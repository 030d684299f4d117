// Appointments in person or by phone in the console: the kind's fields in the scheduling form
// and the edit dialog, the kind and place in the list, and marking whether the jobseeker came
// (there is no room to join, so nobody's attendance is recorded by itself).

import { el } from './dom.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export const PLACE_FIELDS = ['place', 'address', 'bring'];

/** The kind in words. */
export function kindText(kind) {
  switch (kind) {
    case 'in_person': return t('In person');
    case 'phone': return t('By phone');
    default: return t('Video call');
  }
}

/** Show only the fields of `kind` inside `box` (its children say `data-kinds`). */
function showFieldsOf(box, kind) {
  box.hidden = kind === 'video';
  for (const field of box.querySelectorAll('[data-kinds]')) {
    field.hidden = !field.dataset.kinds.split(' ').includes(kind);
  }
}

/** The scheduling form's kind choice: the place's fields and the waiting room follow it. */
export class KindChoice {
  constructor() {
    this.box = $('f-kind');
    this.box.addEventListener('change', () => this.update());
    this.update();
  }

  get kind() {
    const checked = this.box.querySelector('input[name="kind"]:checked');
    return checked ? checked.value : 'video';
  }

  update() {
    const { kind } = this;
    showFieldsOf($('f-place-fields'), kind);
    $('f-waiting-field').hidden = kind !== 'video';
  }

  /** The kind and its fields for the request body; errors as [field, message] pairs. */
  collect(body, errors) {
    const { kind } = this;
    if (kind === 'video') return;
    body.kind = kind;
    delete body.waiting_room;
    const place = $('f-place').value.trim();
    const address = $('f-address').value.trim();
    const bring = $('f-bring').value.trim();
    if (kind === 'in_person') {
      if (!place) errors.push(['place', t('Please enter the place.')]);
      if (!address) errors.push(['address', t('Please enter the address.')]);
      body.place = place;
      body.address = address;
    }
    if (bring) body.bring = bring;
  }

  /** A server refusal of one of the kind's fields, or null. */
  static serverError(field) {
    if (field === 'place') return ['place', t('Please enter the place (at most 200 characters, one line).')];
    if (field === 'address') return ['address', t('Please enter the address (at most 300 characters, one line).')];
    if (field === 'bring') return ['bring', t('What to bring may have at most 500 characters on one line.')];
    if (field === 'kind') return ['kind', t('Please choose how the appointment takes place.')];
    return null;
  }

  reset() {
    this.update();
  }
}

/** The edit dialog's place fields: fill them for `appointment`, and add what changed to `body`. */
export function openPlaceFields(appointment) {
  showFieldsOf($('edit-place-fields'), appointment.kind || 'video');
  $('edit-links-hint').hidden = (appointment.kind || 'video') !== 'video'; // no links to keep
  for (const name of PLACE_FIELDS) $(`e-${name}`).value = appointment[name] || '';
}

export function changedPlaceFields(appointment, body) {
  const kind = appointment.kind || 'video';
  if (kind === 'video') return;
  for (const name of PLACE_FIELDS) {
    if (kind === 'phone' && name !== 'bring') continue;
    const value = $(`e-${name}`).value.trim();
    if (value !== (appointment[name] || '')) body[name] = value;
  }
  if (kind === 'in_person' && (!$('e-place').value.trim() || !$('e-address').value.trim())) {
    throw new Error(t('Please enter the place and the address.'));
  }
}

/** The list card's line on the kind and, in person, the place and what to bring. */
export function whereLine(a) {
  const kind = a.kind || 'video';
  if (kind === 'video') return '';
  const parts = [el('span', { className: 'kind-badge', text: kindText(kind) })];
  if (kind === 'in_person') {
    parts.push(': ', el('bdi', { className: 'where-place', text: a.place }), ', ', el('bdi', { className: 'where-address', text: a.address }));
  }
  if (a.bring) {
    parts.push(' · ', el('span', { text: t('Bring: {items}', { items: a.bring }) }));
  }
  return el('p', { className: 'appointment-where', 'data-kind': kind }, ...parts);
}

/** "Came" / "Did not come" buttons once an in-person or phone appointment has started. */
export function attendanceButtons(a) {
  const state = a.live.state;
  if ((a.kind || 'video') === 'video' || a.status === 'cancelled' || a.starts_at * 1000 > Date.now()) return [];
  const buttons = [];
  if (state !== 'attended') {
    buttons.push(el('button', { type: 'button', className: 'button primary', 'data-action': 'attended', 'data-id': a.id, 'data-key': `attended:${a.id}`, 'aria-label': t('“{title}”: the jobseeker came', { title: a.title }), text: t('Came') }));
  }
  if (state !== 'no_show') {
    buttons.push(el('button', { type: 'button', className: 'button secondary', 'data-action': 'absent', 'data-id': a.id, 'data-key': `absent:${a.id}`, 'aria-label': t('“{title}”: the jobseeker did not come', { title: a.title }), text: t('Did not come') }));
  }
  return buttons;
}
