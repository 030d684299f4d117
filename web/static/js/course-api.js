// The jobseeker's space calls its course API (a module page or an imported SCORM course):
// POST with the space's CSRF token and the page's language; a signed-out device goes back to
// the space's sign-in. Shared by learning.js and scorm-player.js.

import { page } from './i18n.js';

export class RequestFailed extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
    this.body = body;
  }
}

const BASE = `/api/space/learning/${encodeURIComponent(page.module)}`;

/** POST `body` to this course's `path`; resolves to the JSON answer or rejects with RequestFailed. */
export async function courseCall(path, body) {
  const response = await fetch(`${BASE}${path}?lang=${encodeURIComponent(page.lang)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': page.csrf, Accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body || {}),
  }).catch(() => null);
  if (!response) throw new RequestFailed(0, { code: 'network' });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (data.code === 'space_signed_out') window.location.assign('/space');
    throw new RequestFailed(response.status, data);
  }
  return data;
}
