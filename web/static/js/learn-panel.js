// Course sections in the call (issue 12): whoever leads the call (the `moderate` grant) picks
// a module and a section; everyone sees that section in the panel in their own language (or
// the module's fallback), steps through it together (`panel` messages with panel 'learning')
// and it closes for all. Read-only: quizzes show their questions without the answers, nothing
// is submitted and no progress is recorded. Sections come from
// POST /api/call/learning/{module}/sections/{section} with the room token in a header, so
// videos and captions are fetched the same way and shown from blob URLs.

import { announce } from './announcer.js';
import { el } from './dom.js';
import { page, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const LANGUAGE_NAMES = {
  de: 'Deutsch', en: 'English', tr: 'Türkçe', ar: 'العربية', uk: 'Українська', ru: 'Русский',
};

export class LearnPanel {
  /**
   * @param {object} opts
   * @param {(msg: object) => void} opts.send      sends a room message
   * @param {() => string} opts.token              the freshest room token
   * @param {() => void} opts.onShow               another panel (a document) must make room
   */
  constructor({ send, token, onShow }) {
    this.send = send;
    this.token = token;
    this.onShow = onShow;
    this.me = null;
    this.modules = []; // the catalog, for a presenter
    this.shown = null; // {module, section, from}
    this.urls = [];
    this.loading = 0;
    $('learn-prev').addEventListener('click', () => this.step(-1));
    $('learn-next').addEventListener('click', () => this.step(1));
    $('learn-close').addEventListener('click', () => this.close());
    $('learn-module').addEventListener('change', () => this.fillSections());
    // The picker takes room from the pictures only while asked for (a control button).
    $('btn-course').addEventListener('click', () => this.pick($('learn-picker').hidden));
    $('learn-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.open($('learn-module').value, $('learn-section').value);
    });
  }

  /** `hello`: who we are; who leads the call gets the catalog. */
  hello(msg) {
    this.me = msg.participant.id;
    this.presenter = Boolean(msg.grants && msg.grants.moderate);
    if (this.presenter) this.loadCatalog();
  }

  async call(path) {
    return fetch(path, { method: 'POST', headers: { Authorization: `Bearer ${this.token()}` } });
  }

  async loadCatalog() {
    const resp = await this.call(`/api/call/learning?lang=${encodeURIComponent(page.lang)}`).catch(() => null);
    if (!resp || !resp.ok) return;
    this.modules = (await resp.json()).modules || [];
    $('learn-module').replaceChildren(...this.modules.map((m) => el('option', { value: m.id, text: m.title })));
    this.fillSections();
    $('btn-course').hidden = this.modules.length === 0;
  }

  /** Open or close the picker ('Show a course section'). */
  pick(open) {
    $('learn-picker').hidden = !open;
    $('btn-course').setAttribute('aria-expanded', String(open));
    if (open) $('learn-module').focus();
  }

  fillSections() {
    const module = this.modules.find((m) => m.id === $('learn-module').value);
    $('learn-section').replaceChildren(...(module ? module.sections : []).map(
      (s, i) => el('option', { value: s.id, text: `${i + 1}. ${s.title}` }),
    ));
  }

  /** The presenter shows a section. */
  open(module, section) {
    if (!module || !section) return;
    const state = { module, section };
    this.send({ type: 'panel', action: 'open', panel: 'learning', state });
    this.show({ ...state, from: this.me });
  }

  close() {
    this.send({ type: 'panel', action: 'close', panel: 'learning' });
    this.hide();
  }

  /** The presenter's previous or next section, for everyone. */
  step(delta) {
    if (!this.shown) return;
    const module = this.modules.find((m) => m.id === this.shown.module);
    if (!module) return;
    const at = module.sections.findIndex((s) => s.id === this.shown.section);
    const next = module.sections[at + delta];
    if (!next) return;
    const state = { module: module.id, section: next.id };
    this.send({ type: 'panel', action: 'sync', panel: 'learning', state });
    this.show({ ...state, from: this.me });
  }

  /** A learning `panel` message: the presenter's change, or (`current`) the panel as it stands. */
  panel(msg) {
    if (msg.action === 'close') {
      if (this.shown) announce(t('The course section is no longer shown.'));
      this.hide();
      return;
    }
    const state = msg.state || {};
    if (typeof state.module !== 'string' || typeof state.section !== 'string') return;
    this.show({ module: state.module, section: state.section, from: msg.from });
  }

  show(state) {
    this.shown = state;
    this.onShow();
    $('learn-area').hidden = false;
    // While a section is shown its own controls step through it: the picker makes room.
    this.pick(false);
    this.render();
  }

  /** Hidden here only (a document took the panel, or the presenter closed it). */
  hide() {
    this.shown = null;
    this.loading += 1;
    $('learn-area').hidden = true;
    $('learn-content').replaceChildren();
    this.dropUrls();
  }

  dropUrls() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }

  async blobUrl(path) {
    const resp = await this.call(path).catch(() => null);
    if (!resp || !resp.ok) return null;
    const url = URL.createObjectURL(await resp.blob());
    this.urls.push(url);
    return url;
  }

  async render() {
    const shown = this.shown;
    if (!shown) return;
    const ticket = ++this.loading;
    const mine = shown.from === this.me;
    $('learn-controls').hidden = !mine;
    const path = `/api/call/learning/${encodeURIComponent(shown.module)}/sections/`
      + `${encodeURIComponent(shown.section)}?lang=${encodeURIComponent(page.lang)}`;
    const resp = await this.call(path).catch(() => null);
    if (ticket !== this.loading) return; // a newer section was asked for
    if (!resp || !resp.ok) {
      $('learn-content').replaceChildren();
      $('learn-language').hidden = true;
      $('learn-readonly').hidden = true;
      $('learn-note').textContent = t('The course section cannot be shown.');
      return;
    }
    const body = await resp.json();
    if (ticket !== this.loading) return;
    this.dropUrls();
    const section = body.section;
    $('learn-module-title').textContent = body.module.title;
    $('learn-position').textContent = t('Section {n} of {total}', { n: body.position, total: body.sections });
    $('learn-prev').disabled = body.position <= 1;
    $('learn-next').disabled = body.position >= body.sections;
    $('learn-note').textContent = '';
    $('learn-language').hidden = body.own_language;
    $('learn-language').textContent = body.own_language ? '' : t(
      'This section is not available in your language. It is shown in {language}.',
      { language: LANGUAGE_NAMES[body.lang] || body.lang },
    );
    $('learn-readonly').hidden = section.kind !== 'quiz';
    const content = el('div', { lang: body.lang, dir: body.dir, className: 'learn-section' },
      el('h3', { id: 'learn-section-title', text: section.title }));
    if (section.kind === 'page') {
      // Rendered and sanitised on the server (signalling.learning.markdown).
      const parsed = new DOMParser().parseFromString(section.html, 'text/html');
      content.append(el('div', { className: 'lesson-page' }, ...parsed.body.childNodes));
    } else if (section.kind === 'video') {
      content.append(await this.video(section));
    } else {
      content.append(el('ol', { className: 'learn-questions' }, ...(section.questions || []).map(
        (q) => el('li', {}, el('p', { text: q.prompt }),
          el('ul', {}, ...q.choices.map((c) => el('li', { text: c.text })))),
      )));
    }
    if (ticket !== this.loading) return;
    $('learn-content').replaceChildren(content);
    announce(t('Course section shown: {title}', { title: section.title }));
  }

  async video(section) {
    const video = el('video', {
      className: 'lesson-video', controls: true, playsinline: true, preload: 'metadata',
      'aria-labelledby': 'learn-section-title',
    });
    const src = await this.blobUrl(section.video);
    if (src) video.src = src;
    for (const c of section.captions || []) {
      const url = await this.blobUrl(c.src);
      if (!url) continue;
      video.append(el('track', {
        kind: 'captions', srclang: c.lang, label: c.label, src: url, default: c.default,
      }));
    }
    return video;
  }
}
