// Documents in the call (issue 9): the presenter (caseworker or jobseeker) opens a document of
// the jobseeker's folder, everyone sees the same page and zoom (`panel` messages), and an
// employer sees it only once the jobseeker allowed it on their own device (`consent`).
// Pages come from POST /api/call/documents/{id}/pages/{n} with the room token in a header.
// Whoever joins or reconnects gets the panel as it stands right after `hello` (`current`), a
// jobseeker whose answer is pending gets the question again, and when the jobseeker withdraws,
// the guests' panel closes and the presenters are told (`consent_withdrawn`).

import { announce } from './announcer.js';
import { el } from './dom.js';
import { t } from './i18n.js';

const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const BASE_WIDTH = 800; // CSS pixels of a page at zoom 1

const $ = (id) => document.getElementById(id);

export class DocPanel {
  /**
   * @param {object} opts
   * @param {(msg: object) => void} opts.send      sends a room message
   * @param {() => string} opts.token              the freshest room token
   * @param {(id: string) => string} opts.name     a participant's name
   */
  constructor({ send, token, name }) {
    this.send = send;
    this.token = token;
    this.name = name;
    this.me = null;
    this.shown = null; // {document, page, zoom, pages, from, consent}
    this.asked = null; // the consent_request this device answers
    this.standing = new Set(); // documents whose consent this device gave in this call
    this.withdrawn = null; // the document of the presenter's 'consent withdrawn' notice
    this.url = null;
    this.loading = 0;
    $('panel-prev').addEventListener('click', () => this.step(-1));
    $('panel-next').addEventListener('click', () => this.step(1));
    $('panel-zoom-out').addEventListener('click', () => this.zoom(-1));
    $('panel-zoom-in').addEventListener('click', () => this.zoom(1));
    $('panel-close').addEventListener('click', () => this.close());
    $('consent-allow').addEventListener('click', () => this.answer(true));
    $('consent-deny').addEventListener('click', () => this.answer(false));
    $('consent-stop').addEventListener('click', () => this.withdraw());
    $('consent-notice-ok').addEventListener('click', () => { $('consent-notice').hidden = true; });
  }

  /** `hello`: who we are; a presenter gets the folder's list. */
  hello(msg) {
    this.me = msg.participant.id;
    this.role = msg.participant.role;
    this.presenter = Boolean(msg.grants && msg.grants.share_documents);
    if (this.presenter) this.loadList();
  }

  async call(path) {
    return fetch(path, { method: 'POST', headers: { Authorization: `Bearer ${this.token()}` } });
  }

  async loadList() {
    const resp = await this.call('/api/call/documents').catch(() => null);
    if (!resp || !resp.ok) return; // no folder for this call
    const { documents } = await resp.json();
    const list = $('doc-list');
    list.replaceChildren(...documents.map((d) => el('li', {},
      el('button', { type: 'button', className: 'button secondary', 'data-document': d.id },
        t('Show: {title}', { title: d.title })))));
    for (const button of list.querySelectorAll('button')) {
      const doc = documents.find((d) => d.id === button.dataset.document);
      button.addEventListener('click', () => this.open(doc));
    }
    $('doc-picker').hidden = documents.length === 0;
  }

  /** The presenter opens a document at its first page. */
  open(doc) {
    $('consent-notice').hidden = true;
    const state = { document: doc.id, page: 1, zoom: 1 };
    this.send({ type: 'panel', action: 'open', panel: 'document', state });
    this.show({ ...state, pages: doc.pages, from: this.me, consent: false });
  }

  close() {
    this.send({ type: 'panel', action: 'close', panel: 'document' });
    this.hide();
  }

  step(delta) {
    if (!this.shown) return;
    const page = Math.min(Math.max(1, this.shown.page + delta), this.shown.pages);
    this.sync({ page });
  }

  zoom(delta) {
    if (!this.shown) return;
    const at = ZOOMS.indexOf(this.shown.zoom);
    const zoom = ZOOMS[Math.min(Math.max(0, (at < 0 ? 2 : at) + delta), ZOOMS.length - 1)];
    this.sync({ zoom });
  }

  sync(change) {
    const next = { ...this.shown, ...change };
    this.send({
      type: 'panel', action: 'sync', panel: 'document',
      state: { document: next.document, page: next.page, zoom: next.zoom },
    });
    this.show(next);
  }

  /** A `panel` message: the presenter's change, or (`current`) the panel as it stands. */
  panel(msg) {
    if (msg.panel !== 'document') return;
    if (msg.action === 'close') {
      const shown = this.shown;
      this.hide();
      if (msg.reason === 'consent_withdrawn') announce(t('The document is no longer shared.'));
      // Nothing is shown any more: the question about it is moot.
      if (this.asked && shown && this.asked.document === shown.document) {
        $('consent-ask').hidden = true;
        this.asked = null;
      }
      return;
    }
    const state = msg.state || {};
    if (typeof state.document !== 'string') return;
    this.show({
      document: state.document,
      page: Number(state.page) || 1,
      zoom: ZOOMS.includes(state.zoom) ? state.zoom : 1,
      pages: msg.pages || 1,
      from: msg.from,
      consent: Boolean(msg.consent),
    });
  }

  /** `consent_request`: this device (the jobseeker's) is asked. */
  request(msg) {
    this.asked = msg;
    const guests = (msg.guests || []).map((id) => this.name(id)).filter(Boolean).join(', ');
    $('consent-question').textContent = msg.by === this.me
      ? t('Show "{title}" to {guests}?', { title: msg.title, guests })
      : t('{presenter} wants to show "{title}" to {guests}. Allow?', {
        presenter: this.name(msg.by), title: msg.title, guests,
      });
    $('consent-ask').hidden = false;
    $('consent-allow').focus();
    announce($('consent-question').textContent);
  }

  answer(allow) {
    if (!this.asked) return;
    this.send({ type: 'consent', document: this.asked.document, allow });
    $('consent-ask').hidden = true;
    this.asked = null;
  }

  withdraw() {
    for (const document of this.standing) this.send({ type: 'consent', document, allow: false });
  }

  /** `consent`: the jobseeker's answer, told to everyone. What a guest sees follows from
   * the `panel` messages the server sends them (the panel as it stands once allowed, a close
   * once withdrawn), so nothing is fetched here. */
  consent(msg) {
    if (msg.allow) this.standing.add(msg.document);
    else this.standing.delete(msg.document);
    $('consent-standing').hidden = this.role !== 'jobseeker' || this.standing.size === 0;
    if (this.shown && this.shown.document === msg.document) this.shown.consent = msg.allow;
    if (msg.allow && this.withdrawn === msg.document) $('consent-notice').hidden = true;
  }

  /** `consent_withdrawn` (to a presenter): the guests no longer see a document. */
  withdrawnNotice(msg) {
    const guests = (msg.guests || []).map((id) => this.name(id)).filter(Boolean).join(', ');
    this.withdrawn = msg.document;
    $('consent-notice-text').textContent = t(
      'The jobseeker withdrew consent: "{title}" is no longer shown to {guests}.',
      { title: msg.title, guests },
    );
    $('consent-notice').hidden = false;
    announce($('consent-notice-text').textContent);
  }

  show(state) {
    if (this.onOpen) this.onOpen(); // a course section gives way (learn-panel.js)
    this.shown = state;
    $('panel-area').hidden = false;
    this.render();
  }

  hide() {
    this.shown = null;
    $('panel-area').hidden = true;
    this.dropImage();
  }

  dropImage() {
    const img = $('panel-page');
    img.hidden = true;
    img.removeAttribute('src');
    img.alt = '';
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }

  async render() {
    const shown = this.shown;
    if (!shown) return;
    const mine = shown.from === this.me;
    $('panel-controls').hidden = !mine;
    $('panel-prev').disabled = shown.page <= 1;
    $('panel-next').disabled = shown.page >= shown.pages;
    $('panel-position').textContent = t('Page {page} of {pages}', { page: shown.page, pages: shown.pages });
    const width = Math.round(BASE_WIDTH * shown.zoom * Math.min(window.devicePixelRatio || 1, 2));
    const ticket = ++this.loading;
    const resp = await this.call(
      `/api/call/documents/${encodeURIComponent(shown.document)}/pages/${shown.page}?w=${width}`,
    ).catch(() => null);
    if (ticket !== this.loading || this.shown !== shown) return; // a newer page was asked for
    if (resp && resp.ok) {
      const blob = await resp.blob();
      if (ticket !== this.loading) return;
      this.dropImage();
      this.url = URL.createObjectURL(blob);
      const img = $('panel-page');
      img.src = this.url;
      img.style.inlineSize = `${Math.round(100 * shown.zoom)}%`; // of the panel: fits a tablet
      img.alt = t('Page {page} of {pages}', { page: shown.page, pages: shown.pages });
      img.hidden = false;
      $('panel-note').textContent = '';
      return;
    }
    this.dropImage();
    const code = resp ? (await resp.json().catch(() => ({}))).code : '';
    $('panel-note').textContent = code === 'consent_required'
      ? t('{name} is showing a document. Waiting for permission from the jobseeker.', { name: this.name(shown.from) })
      : t('The document cannot be shown.');
  }
}
