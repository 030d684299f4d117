// The console's jobseeker profiles: find, add, the personal space link (text and QR), and
// "schedule for this profile", which hands the profile to the scheduling form, the
// profile's documents (console-documents.js) and its audit trail (console-trail.js).

import { announce } from './announcer.js';
import { api } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export class ProfilePanel {
  /** `qrInto(box, url, name)` draws a QR code; `onSchedule(profile)` starts scheduling;
   * `onDocuments(profile)` opens the profile's folder, `onTrail(profile)` its audit trail;
   * `onErased(profile)` closes what shows a deleted profile. */
  constructor(qrInto, onSchedule, onDocuments, onTrail, onErased = () => {}) {
    this.qrInto = qrInto;
    this.onSchedule = onSchedule;
    this.onDocuments = onDocuments;
    this.onTrail = onTrail;
    this.onErased = onErased;
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
    const trail = el('button', { type: 'button', className: 'button secondary', 'data-action': 'trail', text: t('Audit trail') });
    trail.addEventListener('click', () => this.onTrail(profile));
    const edit = el('button', { type: 'button', className: 'button secondary', 'data-action': 'edit', text: t('Edit') });
    const actions = el('div', { className: 'link-actions' }, schedule, documents, trail, edit, link);
    if (profile.space_link) {
      const revoke = el('button', { type: 'button', className: 'button danger', text: t('Revoke space link') });
      revoke.addEventListener('click', () => this.revokeLink(profile));
      actions.append(revoke);
    }
    const erase = el('button', { type: 'button', className: 'button danger', 'data-action': 'erase', text: t('Delete jobseeker') });
    erase.addEventListener('click', () => this.erase(profile));
    actions.append(erase);
    const phone = profile.phone ? el('span', { dir: 'ltr', text: ` · ${profile.phone}` }) : '';
    const item = el('li', { className: 'profile-item', 'data-profile': profile.id },
      el('p', {}, el('bdi', { text: profile.name }), ` (${profile.lang})`, phone), actions);
    edit.addEventListener('click', () => this.startEdit(item, profile));
    return item;
  }

  /** An edit form in place of the item's actions: name, language, phone. */
  startEdit(item, profile) {
    if (item.querySelector('.profile-edit')) return;
    const form = $('profile-edit').content.firstElementChild.cloneNode(true);
    for (const label of form.querySelectorAll('label[data-for]')) {
      const input = form.querySelector(`[data-name="${label.dataset.for}"]`);
      input.id = `pe-${label.dataset.for}-${profile.id}`;
      label.htmlFor = input.id;
    }
    const field = (name) => form.querySelector(`[data-name="${name}"]`);
    field('name').value = profile.name;
    field('lang').value = profile.lang;
    field('phone').value = profile.phone || '';
    const actions = item.querySelector('.link-actions');
    actions.hidden = true;
    const close = () => {
      form.remove();
      actions.hidden = false;
    };
    form.querySelector('[data-action="cancel-edit"]').addEventListener('click', () => {
      close();
      item.querySelector('[data-action="edit"]').focus();
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('[data-error="edit"]');
      error.hidden = true;
      const body = { name: field('name').value, lang: field('lang').value, phone: field('phone').value || null };
      try {
        const data = await api('PATCH', `/api/profiles/${encodeURIComponent(profile.id)}`, body);
        announce(t('{name} was saved.', { name: data.profile.name }));
        await this.find();
      } catch (failure) {
        if (failure.status === 401) {
          window.location.assign('/console/login');
          return;
        }
        error.textContent = failure.message;
        error.hidden = false;
        const bad = failure.field && field(failure.field);
        if (bad) bad.focus();
      }
    });
    item.append(form);
    field('name').focus();
  }

  /** Delete the jobseeker (the right to erasure), after a question that says what goes. */
  async erase(profile) {
    const dialog = $('profile-erase');
    $('profile-erase-text').textContent = t('{name}, their space link and all their documents will be deleted for good. This cannot be undone.', { name: profile.name });
    dialog.returnValue = '';
    dialog.showModal();
    const sure = await new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true });
    });
    if (!sure) return;
    $('profile-error').hidden = true;
    try {
      await api('DELETE', `/api/profiles/${encodeURIComponent(profile.id)}`);
      this.onErased(profile);
      announce(t('{name} was deleted.', { name: profile.name }));
      await this.find();
    } catch (error) {
      this.fail(error);
    }
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
