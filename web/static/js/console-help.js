// The console's inbox of help requests: newest first, new ones marked. While the console is
// open the live socket says when a request comes in (while it is down, the inbox asks every
// 15 seconds); a request that arrives changes the tab's title and plays a short chime (made
// with WebAudio; the checkbox turns it off, remembered on this device). Caseworkers answer, note what was arranged, and set the status.

import { chime, notify, setTitleCount, soundSwitch } from './alerts.js';
import { announce } from './announcer.js';
import { api } from './api.js';
import { keepFresh } from './console-live.js';
import { el } from './dom.js';
import { formatDateTime, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 15000; // while the live socket is down
const SOUND_KEY = 'lj-help-sound';

const KINDS = {
  childcare: () => t('Childcare'),
  transport: () => t('Transport'),
  interpreter: () => t('Interpreter'),
  technical: () => t('Help with the tablet or the internet'),
  other: () => t('Something else'),
};
const STATES = {
  open: () => t('Open'),
  in_progress: () => t('In progress'),
  arranged: () => t('Arranged'),
  declined: () => t('Declined'),
};

// Not inside a template literal: the catalog extractor reads no t() there.
const received = () => t('Received');

const items = new Map(); // request id -> { json, node }
let known = null; // ids seen since the console opened (null: not loaded yet)
let unseen = 0;

// ---- attention: the tab's title and a chime (alerts.js) -------------------------------

const soundOn = soundSwitch($('inbox-sound'), SOUND_KEY);

function showUnseen() {
  setTitleCount('help', unseen, t('New help request'));
}

function seen() {
  if (!unseen) return;
  unseen = 0;
  showUnseen();
}
document.addEventListener('pointerdown', seen);
document.addEventListener('keydown', seen);

// ---- the list -------------------------------------------------------------------------

function fail(error) {
  if (error.status === 401) {
    window.location.assign('/console/login');
    return;
  }
  $('inbox-error').textContent = error.message;
  $('inbox-error').hidden = false;
}

function replyNode(reply) {
  const label = reply.kind === 'note' ? t('What was arranged') : t('Answer');
  return el('div', { className: `help-reply reply-${reply.kind}` },
    el('h4', { text: `${label} · ${formatDateTime(reply.at)}` }),
    el('p', { className: 'help-text' }, el('bdi', { text: reply.text })));
}

function controls(request) {
  const id = request.id;
  const kind = el('select', { id: `reply-kind-${id}` },
    el('option', { value: 'answer', text: t('Answer to the jobseeker') }),
    el('option', { value: 'note', text: t('What was arranged (place, time)') }));
  const text = el('textarea', { id: `reply-text-${id}`, rows: '3', maxlength: '2000' });
  const send = el('button', { type: 'submit', className: 'button primary', text: t('Send') });
  const form = el('form', { className: 'help-reply-form inbox-controls' },
    el('div', { className: 'field' }, el('label', { for: `reply-kind-${id}`, text: t('Kind') }), kind),
    el('div', { className: 'field' }, el('label', { for: `reply-text-${id}`, text: t('Text') }), text),
    send);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!text.value.trim()) {
      text.focus();
      return;
    }
    try {
      const data = await api('POST', `/api/help/${encodeURIComponent(id)}/replies`,
        { kind: kind.value, text: text.value });
      text.value = '';
      put(data.request, true);
      announce(t('Sent.'));
    } catch (error) {
      fail(error);
    }
  });
  const status = el('select', { id: `status-${id}` },
    ...Object.keys(STATES).map((value) => el('option', {
      value, text: STATES[value](), selected: value === request.status,
    })));
  const set = el('button', { type: 'button', className: 'button secondary', text: t('Set status') });
  set.addEventListener('click', async () => {
    try {
      const data = await api('POST', `/api/help/${encodeURIComponent(id)}/status`, { status: status.value });
      put(data.request, true);
      announce(t('Status: {status}', { status: STATES[status.value]() }));
    } catch (error) {
      fail(error);
    }
  });
  const statusRow = el('div', { className: 'inbox-controls' },
    el('div', { className: 'field' }, el('label', { for: `status-${id}`, text: t('Status') }), status), set);
  return [form, statusRow];
}

function itemNode(request) {
  const heading = el('h3', { id: `inbox-${request.id}` });
  if (request.new) heading.append(el('span', { className: 'inbox-new', text: t('New') }));
  heading.append(KINDS[request.kind] ? KINDS[request.kind]() : request.kind, ' – ',
    el('bdi', { text: request.profile_name || '?' }),
    request.profile_lang ? ` (${request.profile_lang})` : '');
  const facts = [el('p', {},
    el('span', { className: `help-badge state-${request.status}`, text: STATES[request.status]() }),
    ` · ${received()} ${formatDateTime(request.created_at)}`)];
  const slot = request.appointment_window;
  if (slot) {
    facts.push(el('p', { text: t('For the appointment “{title}” on {time}', {
      title: slot.title, time: formatDateTime(slot.starts_at),
    }) }));
    if (slot.kind === 'in_person') {
      facts.push(el('p', { className: 'help-where' }, t('In person at:'), ' ',
        el('bdi', { text: `${slot.place}, ${slot.address}` })));
    }
  }
  if (request.child_ages.length) {
    facts.push(el('p', { text: t('Children: {count}, ages {ages}', {
      count: request.child_ages.length, ages: request.child_ages.join(', '),
    }) }));
  }
  if (request.text) facts.push(el('p', { className: 'help-text' }, el('bdi', { text: request.text })));
  return el('li', {
    className: `inbox-item${request.new ? ' is-new' : ''}`,
    'data-request': request.id,
    'data-status': request.status,
    'aria-labelledby': `inbox-${request.id}`,
  }, heading, ...facts, ...request.replies.map(replyNode), ...controls(request));
}

/** Show `request`: new at the top; a changed one replaced in place unless a caseworker is
 * typing in it (`force`: after their own action). */
function put(request, force = false) {
  const json = JSON.stringify(request);
  const held = items.get(request.id);
  if (held && held.json === json) return;
  if (held && !force) {
    const typing = held.node.contains(document.activeElement)
      || [...held.node.querySelectorAll('textarea')].some((area) => area.value.trim());
    if (typing) return;
  }
  const node = itemNode(request);
  if (held) {
    held.node.replaceWith(node);
  } else {
    $('inbox-list').querySelectorAll(':scope > li.hint').forEach((hint) => hint.remove());
    $('inbox-list').prepend(node);
  }
  items.set(request.id, { json, node });
}

async function load() {
  let data;
  try {
    data = await api('GET', '/api/help');
  } catch (error) {
    fail(error);
    return;
  }
  $('inbox-error').hidden = true;
  if (known === null) $('inbox-list').replaceChildren();
  const arrived = [];
  // Oldest first, so that prepending leaves the newest at the top.
  for (const request of [...data.requests].reverse()) {
    if (known !== null && !known.has(request.id) && request.new) arrived.push(request);
    put(request);
  }
  const live = new Set(data.requests.map((r) => r.id));
  for (const [id, held] of items) {
    if (!live.has(id)) {
      held.node.remove();
      items.delete(id);
    }
  }
  if (!items.size) $('inbox-list').replaceChildren(el('li', { className: 'hint', text: t('No help requests.') }));
  const newCount = data.requests.filter((r) => r.new).length;
  $('inbox-count').textContent = String(newCount);
  $('inbox-count').hidden = !newCount;
  if (known !== null && arrived.length) {
    unseen += arrived.length;
    showUnseen();
    chime('helpChimes', soundOn());
    notify(t('New help request'), '', 'lj-help');
    announce(t('New help request'));
  }
  known = new Set([...(known || []), ...live]);
}

load();
keepFresh(load, { wants: (change) => change.help, pollMs: POLL_MS });
