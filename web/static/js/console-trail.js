// The console's audit trail of one jobseeker (GET /api/profiles/<id>/audit): changes to the
// profile and its space link, sign-ins on devices, every access to a document and the
// admissions, joins and leaves of its appointments, newest first. The trail holds ids and
// roles; the server adds the titles of documents and appointments that still exist.

import { api } from './api.js';
import { el } from './dom.js';
import { formatDateTime, roleName, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** What happened, in words (with what the entry's details add). */
export function actionText(entry) {
  const detail = entry.detail || {};
  switch (entry.action) {
    case 'document.upload': return t('Document added');
    case 'document.view': return detail.page ? t('Page {page} viewed', { page: detail.page }) : t('Viewed');
    case 'document.download': return t('Original downloaded');
    case 'document.share': return t('Shown in the call');
    case 'document.consent': return t('Consent given');
    case 'document.withdraw': return t('Consent withdrawn');
    case 'document.delete': return t('Document deleted');
    case 'document.expire': return t('Deleted after the retention period');
    case 'call.admit': return t('Admitted to the call');
    case 'call.join': return t('Joined the call');
    case 'call.leave': return t('Left the call');
    case 'profile.change':
      if (detail.change === 'create') return t('Profile created');
      if (detail.change === 'delete') return t('Profile deleted');
      return t('Profile changed: {fields}', { fields: String(detail.fields || '').split('.').join(', ') });
    case 'profile.space_link':
      if (detail.change === 'revoke') return t('Space link revoked');
      if (detail.change === 'reissue') return t('New space link issued');
      return t('Space link issued');
    case 'space.sign_in': return t('Signed in to the space on a device');
    case 'space.sign_out': return t('Signed out on a device');
    case 'appointment.edit': return t('Appointment changed (same links)');
    case 'appointment.attendance':
      return detail.event === 'attended' ? t('Marked as attended (in person or by phone)') : t('Marked as not attended (in person or by phone)');
    case 'appointment.participant': return t('Participant added: {role}', { role: roleName(detail.role) });
    case 'learning.statement': return t('Learning: {verb} in {module}', { verb: detail.verb, module: detail.module });
    case 'learning.recommend':
      return detail.change === 'withdraw'
        ? t('Course recommendation withdrawn: {module}', { module: detail.module })
        : t('Course recommended: {module}', { module: detail.module });
    case 'learning.export': return t('Learning records exported');
    case 'learning.shown_in_call': return t('Course section shown in the call: {module}', { module: detail.module });
    default: return entry.action;
  }
}

function byText(entry) {
  const role = entry.role_in_call || entry.actor_role;
  switch (role) {
    case 'caseworker': case 'jobseeker': case 'employer': case 'interpreter': break;
    case 'guest': case 'participant': return t('Participant');
    case 'system': return t('System');
    default: return role;
  }
  // Staff act under their user name; everybody else is named by role only.
  return entry.actor_role === 'caseworker' && !entry.appointment
    ? `${roleName(role)} (${entry.actor})` : roleName(role);
}

function aboutCell(entry) {
  const cell = el('td');
  if (entry.document) {
    cell.append(entry.document.title
      ? el('bdi', { text: entry.document.title })
      : el('span', { text: t('deleted document') }),
    ' ', el('span', { className: 'trail-id', dir: 'ltr', text: entry.document.id }));
  }
  if (entry.appointment) {
    const a = entry.appointment;
    if (entry.document) cell.append(el('br'));
    cell.append(a.title
      ? el('span', {}, el('bdi', { text: a.title }), ` · ${formatDateTime(a.starts_at)}`)
      : el('span', { text: t('appointment no longer kept') }),
    ' ', el('span', { className: 'trail-id', dir: 'ltr', text: a.id }));
  }
  return cell;
}

function row(entry) {
  return el('tr', { 'data-action': entry.action, 'data-seq': entry.seq },
    el('td', {}, el('time', { datetime: new Date(entry.at * 1000).toISOString(), text: formatDateTime(entry.at) })),
    el('td', { text: actionText(entry) }),
    el('td', { text: byText(entry) }),
    aboutCell(entry));
}

export class TrailPanel {
  constructor() {
    this.profile = null;
    $('close-trail').addEventListener('click', () => {
      $('profile-trail').hidden = true;
      this.profile = null;
    });
    $('reload-trail').addEventListener('click', () => this.load());
  }

  /** Show `profile`'s trail. */
  async open(profile) {
    this.profile = profile;
    $('profile-trail-title').textContent = t('Audit trail of {name}', { name: profile.name });
    $('profile-trail').hidden = false;
    await this.load();
    $('profile-trail').focus();
  }

  /** Close the trail if it shows `profile` (which was deleted). */
  close(profile) {
    if (!this.profile || this.profile.id !== profile.id) return;
    $('profile-trail').hidden = true;
    this.profile = null;
  }

  async load() {
    if (!this.profile) return;
    $('profile-trail-error').hidden = true;
    try {
      const data = await api('GET', `/api/profiles/${encodeURIComponent(this.profile.id)}/audit`);
      const rows = data.entries.map(row);
      if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 4, className: 'hint', text: t('Nothing recorded yet.') })));
      $('profile-trail-rows').replaceChildren(...rows);
    } catch (error) {
      if (error.status === 401) {
        window.location.assign('/console/login');
        return;
      }
      $('profile-trail-error').textContent = error.message;
      $('profile-trail-error').hidden = false;
    }
  }
}
