// The console's jobseeker profiles: find, add, the personal space link (text and QR), and
// "schedule for this profile", which hands the profile to the scheduling form, and the
// profile's documents (console-documents.js).

import { announce } from './announcer.js';
import { api } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export class ProfilePanel {
  /** `qrInto(box, url, name)` draws a QR code; `onSchedule(profile)` starts scheduling;
   * `onDocuments(profile)` opens the profile's folder. */
  constructor(qrInto, onSchedule, onDocuments) {
    this.qrInto = qrInto;
    this.onSchedule = onSchedule;
    this.onDocuments = onDocuments;
    $('profile-search').addEventListener('submit', (event) => {
      event.preventDefault();
      this.find();
    });
    $('profile-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.create();
    });
    this.find();
  }

  fail(error) {
    if (error.status === 401) {
      window.location.assign('/console/login');
      return;
    }
    $('profile-error').textContent = error.message;
    $('profile-error').hidden = false;
  }

  async find() {
    $('profile-error').hidden = true;
    try {
      const q = $('profile-q').value.trim();
      const data = await api('GET', `/api/profiles?q=${encodeURIComponent(q)}`);
      this.show(data.profiles);
    } catch (error) {
      this.fail(error);
    }
  }

  show(profiles) {
    const list = $('profile-list');
    list.replaceChildren(...profiles.map((profile) => this.item(profile)));
    if (!profiles.length) list.append(el('li', { className: 'hint', text: t('No jobseeker found.') }));
  }

  item(profile) {
    const schedule = el('button', { type: 'button', className: 'button secondary', text: t('Schedule for this jobseeker') });
    schedule.addEventListener('click', () => this.onSchedule(profile));
    const link = el('button', { type: 'button', className: 'button secondary', text: profile.space_link ? t('New space link') : t('Space link') });
    link.addEventListener('click', () => this.issueLink(profile));
    const documents = el('button', { type: 'button', className: 'button secondary', text: t('Documents') });
    documents.addEventListener('click', () => this.onDocuments(profile));
    const actions = el('div', { className: 'link-actions' }, schedule, documents, link);
    if (profile.space_link) {
      const revoke = el('button', { type: 'button', className: 'button danger', text: t('Revoke space link') });
      revoke.addEventListener('click', () => this.revokeLink(profile));
      actions.append(revoke);
    }
    return el('li', { className: 'profile-item', 'data-profile': profile.id },
      el('p', {}, el('bdi', { text: profile.name }), ` (${profile.lang})`), actions);
  }

  async create() {
    $('profile-error').hidden = true;
    const body = { name: $('pf-name').value, lang: $('pf-lang').value, phone: $('pf-phone').value || null };
    try {
      const data = await api('POST', '/api/profiles', body);
      $('profile-form').reset();
      announce(t('{name} was added.', { name: data.profile.name }));
      $('profile-q').value = data.profile.name;
      await this.find();
    } catch (error) {
      this.fail(error);
    }
  }

  async issueLink(profile) {
    try {
      const data = await api('POST', `/api/profiles/${encodeURIComponent(profile.id)}/space-link`);
      $('space-link-title').textContent = t('Personal space link for {name}', { name: profile.name });
      $('space-link-url').value = data.url;
      $('space-link').hidden = false;
      await this.qrInto($('space-link-qr'), data.url, profile.name);
      await this.find();
    } catch (error) {
      this.fail(error);
    }
  }

  async revokeLink(profile) {
    try {
      await api('DELETE', `/api/profiles/${encodeURIComponent(profile.id)}/space-link`);
      $('space-link').hidden = true;
      announce(t('The space link of {name} no longer works.', { name: profile.name }));
      await this.find();
    } catch (error) {
      this.fail(error);
    }
  }
}
