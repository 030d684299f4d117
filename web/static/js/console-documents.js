// The console's view of one jobseeker's application folder: the list, preview, download,
// delete (after a question) and an upload by the caseworker.

import { announce } from './announcer.js';
import { api } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';
import { Preview, UploadForm, confirmDelete, kindName, refusalMessage, upload } from './folder.js';

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

function uploadedOn(epochSeconds) {
  return new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: 'long' })
    .format(new Date(epochSeconds * 1000));
}

export class DocumentsPanel {
  constructor() {
    this.profile = null;
    this.documents = [];
    this.preview = new Preview((id, n, width) => `/api/documents/${encodeURIComponent(id)}/pages/${n}?w=${width}`);
    $('close-docs').addEventListener('click', () => {
      $('profile-docs').hidden = true;
      this.profile = null;
    });
    $('folder-documents').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      const doc = this.documents.find((d) => d.id === button.closest('.folder-doc').dataset.document);
      if (!doc) return;
      if (button.dataset.action === 'preview') this.preview.open(doc);
      else this.remove(doc);
    });
    this.uploadForm = new UploadForm(
      $('upload-form'),
      (data, onProgress) => upload(this.base(), data, csrfToken(), onProgress),
      () => this.load(),
    );
  }

  base() {
    return `/api/profiles/${encodeURIComponent(this.profile.id)}/documents`;
  }

  /** Show `profile`'s folder. */
  async open(profile) {
    if (!this.profile || this.profile.id !== profile.id) this.uploadForm.clear();
    this.profile = profile;
    $('profile-docs-title').textContent = t('Documents of {name}', { name: profile.name });
    $('profile-docs').hidden = false;
    await this.load();
    $('profile-docs').focus();
  }

  /** Close the folder if it shows `profile` (which was deleted). */
  close(profile) {
    if (!this.profile || this.profile.id !== profile.id) return;
    $('profile-docs').hidden = true;
    this.profile = null;
  }

  fail(error) {
    if (error.status === 401) {
      window.location.assign('/console/login');
      return;
    }
    $('profile-docs-error').textContent = refusalMessage(error.code);
    $('profile-docs-error').hidden = false;
  }

  async load() {
    $('profile-docs-error').hidden = true;
    try {
      const data = await api('GET', this.base());
      this.documents = data.documents;
      this.show();
    } catch (error) {
      this.fail(error);
    }
  }

  show() {
    const box = $('folder-documents');
    if (!this.documents.length) {
      box.replaceChildren(el('p', { className: 'folder-empty', text: t('No documents yet.') }));
      return;
    }
    box.replaceChildren(el('ul', { className: 'folder-list' }, ...this.documents.map((d) => this.item(d))));
  }

  item(doc) {
    const heading = `doc-${doc.id}`;
    const by = doc.uploaded_by_owner ? t('added by the jobseeker') : t('added by a caseworker');
    return el('li', { className: 'card folder-doc', 'data-document': doc.id, 'data-pages': doc.pages },
      el('h3', { id: heading }, el('bdi', { text: doc.title })),
      el('p', { className: 'doc-facts' },
        [kindName(doc.kind), t('Pages: {count}', { count: doc.pages }), ''].join(' · '),
        el('time', { datetime: new Date(doc.uploaded_at * 1000).toISOString(), text: uploadedOn(doc.uploaded_at) }),
        ' · ', by),
      el('div', { className: 'doc-actions' },
        el('button', { type: 'button', className: 'button primary', 'data-action': 'preview', 'aria-describedby': heading, text: t('Show') }),
        el('a', { className: 'button secondary', href: `/api/documents/${encodeURIComponent(doc.id)}/original`, download: true, 'aria-describedby': heading, text: t('Download') }),
        el('button', { type: 'button', className: 'button danger', 'data-action': 'delete', 'aria-describedby': heading, text: t('Delete') })));
  }

  async remove(doc) {
    if (!(await confirmDelete(doc.title))) return;
    try {
      await api('DELETE', `/api/documents/${encodeURIComponent(doc.id)}`);
      announce(t('{title} was deleted.', { title: doc.title }));
      await this.load();
      $('profile-docs').focus();
    } catch (error) {
      this.fail(error);
    }
  }
}
