// The jobseeker's space: the application folder (list, preview, download, delete, upload)
// and "who has seen my documents" (rendered by the server, refreshed with the folder).
// The server renders the list in the profile's language; after a change the page fetches
// itself again and takes the new list from it, so dates and words come from one place.

import { announce } from './announcer.js';
import { page, t } from './i18n.js';
import { Preview, UploadForm, confirmDelete, refusalMessage, upload } from './folder.js';

const $ = (id) => document.getElementById(id);
const BASE = '/api/space/documents';

const preview = new Preview((id, n, width) => `${BASE}/${encodeURIComponent(id)}/pages/${n}?w=${width}`);

function signedOut(code) {
  if (code === 'space_signed_out') window.location.assign('/space');
}

/** Take the folder's list from a fresh copy of this page. */
async function refresh() {
  const response = await fetch(window.location.pathname + window.location.search, {
    credentials: 'same-origin', cache: 'no-store',
  });
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  for (const id of ['folder-documents', 'seen-documents']) {
    const part = fresh.getElementById(id);
    if (part) $(id).replaceWith(document.adoptNode(part));
  }
}

function showError(message) {
  const error = $('folder-error');
  error.textContent = message;
  error.hidden = false;
}

async function remove(item) {
  const title = item.dataset.title;
  $('folder-error').hidden = true;
  if (!(await confirmDelete(title))) return;
  const response = await fetch(`${BASE}/${encodeURIComponent(item.dataset.document)}`, {
    method: 'DELETE',
    headers: { 'X-CSRF-Token': page.csrf, Accept: 'application/json' },
    credentials: 'same-origin',
  }).catch(() => null);
  if (!response || !response.ok) {
    const body = response ? await response.json().catch(() => ({})) : { code: 'network' };
    signedOut(body.code);
    showError(refusalMessage(body.code));
    return;
  }
  await refresh();
  announce(t('{title} was deleted.', { title }));
  $('folder-title').focus();
}

$('folder').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const item = button.closest('.folder-doc');
  if (button.dataset.action === 'preview') {
    preview.open({ id: item.dataset.document, title: item.dataset.title, pages: Number(item.dataset.pages) });
  } else if (button.dataset.action === 'delete') {
    remove(item);
  }
});

new UploadForm(
  $('upload-form'),
  (data, onProgress) => upload(BASE, data, page.csrf, onProgress).catch((error) => {
    signedOut(error.code);
    throw error;
  }),
  () => refresh(),
);
