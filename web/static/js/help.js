// Help requests in the jobseeker's space: the form that asks (childcare for an appointment,
// transport, interpreter, technical help, something else) and the list of requests with
// their status and answers. The server renders the list in the profile's language; after
// sending, and when the page comes back into view, the list is taken from a fresh copy of
// the page. No timer polls: every request moves the session's idle expiry on, and a tablet
// left lying with the space open must still sign itself out.

import { announce } from './announcer.js';
import { page, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const form = $('help-form');

function chosenKind() {
  const checked = form.querySelector('input[name="kind"]:checked');
  return checked ? checked.value : '';
}

// Ages as typed on any keyboard: Arabic-Indic and Persian digits count as digits, and
// commas (also the Arabic one), semicolons and spaces separate.
function parseAges(text) {
  const latin = text
    .replace(/[\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) - 0x0660))
    .replace(/[\u06f0-\u06f9]/g, (d) => String(d.charCodeAt(0) - 0x06f0));
  const parts = latin.split(/[\s,;\u060c]+/).filter(Boolean);
  if (!parts.length || parts.some((p) => !/^\d{1,2}$/.test(p))) return null;
  return parts.map(Number);
}

function refusal(body) {
  if (body.code === 'rate_limited') return t('You have many open requests. Please wait for an answer first.');
  switch (body.field) {
    case 'kind': return t('Please choose what you need help with.');
    case 'appointment': return t('Please choose the appointment.');
    case 'child_ages': return t('Please give the age of each child (0 to 17).');
    case 'text': return t('Please write a few words (at most 2000 characters).');
    default: return t('Sending did not work. Please try again.');
  }
}

function showError(message) {
  $('help-error').textContent = message;
  $('help-error').hidden = false;
}

/** Take the list of requests from a fresh copy of this page. */
async function refresh() {
  const response = await fetch(window.location.pathname + window.location.search, {
    credentials: 'same-origin', cache: 'no-store',
  }).catch(() => null);
  if (!response || !response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  const list = fresh.getElementById('help-requests');
  if (list && list.innerHTML !== $('help-requests').innerHTML) {
    $('help-requests').replaceWith(document.adoptNode(list));
  }
}

function showKindFields() {
  const childcare = chosenKind() === 'childcare';
  $('help-childcare').hidden = !childcare;
  $('help-text').required = !childcare;
}

async function send(event) {
  event.preventDefault();
  $('help-error').hidden = true;
  const kind = chosenKind();
  if (!kind) {
    showError(refusal({ field: 'kind' }));
    return;
  }
  const body = { kind, text: $('help-text').value };
  if (kind === 'childcare') {
    const ages = parseAges($('help-ages').value);
    if (!ages) {
      showError(refusal({ field: 'child_ages' }));
      $('help-ages').focus();
      return;
    }
    body.appointment = $('help-appointment').value;
    body.child_ages = ages;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const response = await fetch('/api/space/help', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': page.csrf, Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    }).catch(() => null);
    if (!response || !response.ok) {
      const error = response ? await response.json().catch(() => ({})) : {};
      if (error.code === 'space_signed_out') window.location.assign('/space');
      showError(refusal(error));
      return;
    }
    form.reset();
    showKindFields();
    await refresh();
    announce(t('Your request was sent. You will see the answer here.'));
    $('help-title').focus();
  } finally {
    button.disabled = false;
  }
}

form.addEventListener('change', showKindFields);
form.addEventListener('submit', send);
showKindFields();

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refresh();
});
