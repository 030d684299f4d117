// Courses from providers in the console: the imported SCORM 1.2 packages, and for staff named
// in the scorm_importers setting, importing one. The server checks and unpacks the package;
// a refusal comes back with a reason code, shown here as a sentence in the page's language.

import { api } from './api.js';
import { el } from './dom.js';
import { formatDateTime, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

function refusal(status, body) {
  switch (body.reason || (status === 413 ? 'too_large' : '')) {
    case 'unsafe_name': case 'symlink': case 'encrypted': case 'duplicate':
      return t('The package holds files that are not allowed (unsafe names, links or encrypted files). It was not imported.');
    case 'zip_bomb': case 'too_large': case 'too_many_files':
      return t('The package is too large or holds too many files. It was not imported.');
    case 'no_manifest': case 'bad_manifest': case 'no_launch':
      return t('The package has no valid imsmanifest.xml with a start page. It was not imported.');
    case 'not_scorm12':
      return t('This is not a SCORM 1.2 package. It was not imported.');
    case 'not_zip': case 'empty':
      return t('The file is not a ZIP package. It was not imported.');
    default:
      return status === 403 ? t('You may not import courses.') : t('The course could not be imported. Please try again.');
  }
}

function showError(message) {
  $('scorm-error').textContent = message || '';
  $('scorm-error').hidden = !message;
}

async function load() {
  try {
    const data = await api('GET', '/api/learning/scorm');
    $('scorm-list').replaceChildren(...data.packages.map((p) => el('li', { 'data-package': p.id },
      el('bdi', { text: p.title }),
      ' · ',
      el('time', { datetime: new Date(p.imported_at * 1000).toISOString(), text: formatDateTime(p.imported_at) }))));
    $('scorm-empty').hidden = data.packages.length > 0;
    $('scorm-import').hidden = !data.may_import;
  } catch (error) {
    if (error.status === 401) window.location.assign('/console/login');
    else showError(error.message);
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $('scorm-file').files[0];
  showError('');
  $('scorm-result').textContent = '';
  if (!file) {
    showError(t('Choose a ZIP file first.'));
    $('scorm-file').focus();
    return;
  }
  const button = $('scorm-import').querySelector('button[type="submit"]');
  button.disabled = true;
  $('scorm-result').textContent = t('Checking and importing…');
  try {
    const response = await fetch('/api/learning/scorm', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/zip',
        'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content,
        Accept: 'application/json',
      },
      credentials: 'same-origin',
      body: file,
    }).catch(() => null);
    const body = response ? await response.json().catch(() => ({})) : {};
    if (!response || !response.ok) {
      $('scorm-result').textContent = '';
      showError(response ? refusal(response.status, body) : t('The course could not be imported. Please try again.'));
      return;
    }
    $('scorm-result').textContent = t('Imported: {title}', { title: body.package.title });
    $('scorm-file').value = '';
    await load();
  } finally {
    button.disabled = false;
  }
}

$('scorm-import').addEventListener('submit', upload);
load();
