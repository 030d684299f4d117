// The application folder, shared by the jobseeker's space and the console: what a refusal
// means in plain words, uploading with progress, the page preview and the question before
// deleting. The pages (space.js, console-documents.js) say where the folder's API lives.

import { announce } from './announcer.js';
import { t, tn } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** What a document is, in words. */
export function kindName(kind) {
  switch (kind) {
    case 'cv': return t('CV');
    case 'certificate': return t('Certificate');
    case 'reference': return t('Reference');
    default: return t('Other document');
  }
}

/** A refused upload or a failed call, as a sentence for the person who tried. */
export function refusalMessage(code) {
  switch (code) {
    case 'unsupported_type': return t('This file cannot be used. Please choose a PDF, a JPEG or a PNG file.');
    case 'broken_file': return t('This file is damaged and cannot be opened. Please try another file.');
    case 'encrypted_pdf': return t('This PDF is protected by a password. Please save it without a password and try again.');
    case 'file_too_large': return t('This file is too large. Please choose a smaller file.');
    case 'image_too_large': return t('This picture is too large. Please take the photo with a lower resolution.');
    case 'too_many_pages': return t('This document has too many pages. Please split it into smaller documents.');
    case 'too_many_photos': return t('Too many photos for one document. Please take fewer photos.');
    case 'empty_file': return t('This file is empty. Please choose another file.');
    case 'folder_full': return t('Your folder is full. Please delete a document you no longer need.');
    case 'folder_too_large': return t('Your folder has no more room. Please delete a document you no longer need.');
    case 'invalid': return t('Please give the document a title and choose a file.');
    case 'space_signed_out': return t('You are signed out on this device. Please open your personal link again.');
    case 'network': return t('No connection to the server. Please check the internet connection and try again.');
    default: return t('Something went wrong. Please try again later.');
  }
}

/** POST `form` to `url` with the CSRF header; `onProgress(fraction)` while sending.
 * Resolves to the JSON answer, rejects with {status, code}. */
export function upload(url, form, csrf, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.upload.addEventListener('load', () => onProgress(1));
    xhr.addEventListener('load', () => {
      const body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject({ status: xhr.status, code: body.code || 'error' });
    });
    xhr.addEventListener('error', () => reject({ status: 0, code: 'network' }));
    xhr.send(form);
  });
}

/** The add-a-document form (folder_pick.html): a file or several photos, title and kind. */
export class UploadForm {
  /** `send(formData, onProgress)` uploads; `done(document)` runs after a saved upload. */
  constructor(form, send, done) {
    this.form = form;
    this.send = send;
    this.done = done;
    this.files = [];
    $('doc-file').addEventListener('change', () => this.picked($('doc-file'), $('doc-photos')));
    $('doc-photos').addEventListener('change', () => this.picked($('doc-photos'), $('doc-file')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  /** Start again: nothing chosen, no message (the console's form moves between profiles). */
  clear() {
    this.form.reset();
    this.files = [];
    $('pick-chosen').textContent = '';
    $('upload-error').hidden = true;
    $('doc-title').removeAttribute('aria-invalid');
  }

  picked(input, other) {
    other.value = '';
    this.files = [...input.files];
    $('upload-error').hidden = true;
    const chosen = $('pick-chosen');
    if (!this.files.length) chosen.textContent = '';
    else if (input.id === 'doc-photos') {
      chosen.textContent = this.files.length === 1
        ? t('1 photo chosen.')
        : tn('{count} photo chosen: it becomes one PDF document with {count} page.',
          '{count} photos chosen: they become one PDF document with {count} pages.', this.files.length);
    } else {
      chosen.textContent = t('Chosen: {name}', { name: this.files[0].name });
    }
  }

  fail(message, focus) {
    const error = $('upload-error');
    error.textContent = message;
    error.hidden = false;
    if (focus) focus.focus();
  }

  async submit() {
    const title = $('doc-title');
    $('upload-error').hidden = true;
    title.removeAttribute('aria-invalid');
    if (!title.value.trim()) {
      title.setAttribute('aria-invalid', 'true');
      this.fail(t('Please give the document a title.'), title);
      return;
    }
    if (!this.files.length) {
      this.fail(t('Please choose a file or take photos.'), $('doc-file'));
      return;
    }
    const data = new FormData();
    data.append('title', title.value.trim());
    data.append('kind', $('doc-kind').value);
    for (const file of this.files) data.append('file', file, file.name);
    const button = $('upload-submit');
    const wait = $('upload-wait');
    const progress = $('upload-progress');
    const state = $('upload-state');
    button.disabled = true;
    this.form.setAttribute('aria-busy', 'true');
    wait.hidden = false;
    progress.value = 0;
    state.textContent = t('Sending…');
    try {
      const answer = await this.send(data, (fraction) => {
        progress.value = Math.round(fraction * 100);
        state.textContent = fraction < 1
          ? t('Sending… {percent} %', { percent: Math.round(fraction * 100) })
          : t('Preparing the document. Please wait…');
      });
      this.clear();
      announce(t('{title} is now in the folder.', { title: answer.document ? answer.document.title : '' }));
      await this.done(answer.document);
    } catch (error) {
      this.fail(refusalMessage(error.code));
    } finally {
      button.disabled = false;
      this.form.removeAttribute('aria-busy');
      wait.hidden = true;
    }
  }
}

/** The preview dialog: one rendered page at a time, previous and next. */
export class Preview {
  /** `pageUrl(id, n, width)` names a page image. */
  constructor(pageUrl) {
    this.pageUrl = pageUrl;
    this.dialog = $('doc-preview');
    this.img = $('doc-preview-img');
    $('doc-preview-close').addEventListener('click', () => this.dialog.close());
    $('doc-preview-prev').addEventListener('click', () => this.show(this.number - 1));
    $('doc-preview-next').addEventListener('click', () => this.show(this.number + 1));
    // On a tablet a swipe turns the page, on a keyboard the arrow keys do; both follow the
    // reading direction (in Arabic the next page comes from the left).
    const stage = this.dialog.querySelector('.preview-page');
    let start = null;
    stage.addEventListener('pointerdown', (event) => { start = event.clientX; });
    stage.addEventListener('pointerup', (event) => {
      if (start === null) return;
      const dx = event.clientX - start;
      start = null;
      if (Math.abs(dx) > 60) this.step(dx < 0);
    });
    this.dialog.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowRight') this.step(true);
      else if (event.key === 'ArrowLeft') this.step(false);
    });
    this.img.addEventListener('load', () => {
      this.img.hidden = false;
      this.dialog.removeAttribute('aria-busy');
    });
    this.img.addEventListener('error', () => {
      this.img.hidden = true;
      this.dialog.removeAttribute('aria-busy');
      $('doc-preview-error').textContent = t('This page cannot be shown.');
      $('doc-preview-error').hidden = false;
    });
  }

  /** Go one page on; `towardsEnd` says whether that is forward in a left-to-right page
   * (a swipe to the left, the right arrow key): a right-to-left page mirrors it. */
  step(towardsEnd) {
    const rtl = document.documentElement.dir === 'rtl';
    this.show(this.number + ((towardsEnd !== rtl) ? 1 : -1));
  }

  /** Open document `doc` ({id, title, pages}) at page `number`. */
  open(doc, number = 1) {
    this.doc = doc;
    $('doc-preview-title').textContent = doc.title;
    if (!this.dialog.open) this.dialog.showModal();
    this.show(number);
  }

  show(number) {
    const pages = this.doc.pages;
    this.number = Math.min(Math.max(1, number), pages);
    const width = Math.round(Math.min(this.dialog.clientWidth || 768, 1200) * (window.devicePixelRatio || 1));
    $('doc-preview-error').hidden = true;
    this.dialog.setAttribute('aria-busy', 'true');
    this.img.dataset.page = String(this.number);
    this.img.alt = t('Page {page} of {pages}: {title}', { page: this.number, pages, title: this.doc.title });
    this.img.src = this.pageUrl(this.doc.id, this.number, width);
    $('doc-preview-count').textContent = t('Page {page} of {pages}', { page: this.number, pages });
    $('doc-preview-prev').disabled = this.number <= 1;
    $('doc-preview-next').disabled = this.number >= pages;
    // Keep focus inside the dialog when the button that had it becomes disabled.
    if (document.activeElement && document.activeElement.disabled) $('doc-preview-close').focus();
  }
}

/** Ask before deleting `title`: resolves to true when the person confirmed. */
export function confirmDelete(title) {
  const dialog = $('doc-confirm');
  $('doc-confirm-text').textContent = t('“{title}” will be deleted for good. This cannot be undone.', { title });
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true });
  });
}
