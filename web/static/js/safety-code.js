// The safety check in the call: seven pictures made from the same hash as the twelve-digit code
// (kept under "Show as numbers"), one plain sentence on what to do, a "same pictures" checkbox
// per other participant, and a visible and announced warning when the pictures change (someone
// joined or left, a new key): the ticks are then cleared. Everything here is local to this
// page; nothing is sent.
//
// Two places show the pictures. The strip (templates/safety_strip.html) sits in the stage's
// notice area from the moment there is someone to compare with: the pictures small, the
// sentence, a button for the rest; it takes a line or two there and never the room of the
// pictures, the chat or the controls. The panel (templates/safety_code.html) in the encryption
// details under the lock button has the pictures large with their names in the page's
// language, the ticks, the numbers and the technical details; it opens on demand only. The
// strip hides while the panel is open, once the pictures are compared with everyone, or when
// closed, and comes back (with the warning) when they change.

import { announce } from './announcer.js';
import { el } from './dom.js';
import { t } from './i18n.js';
import { sasEmoji } from './sas-emoji.js';

export class SafetyCheck {
  constructor() {
    this.box = document.getElementById('safety');
    this.list = document.getElementById('safety-emoji');
    this.digits = document.getElementById('safety-code');
    this.changed = document.getElementById('safety-changed');
    this.people = document.getElementById('safety-people');
    this.done = document.getElementById('safety-done');
    this.strip = document.getElementById('safety-strip');
    this.stripList = document.getElementById('safety-strip-emoji');
    this.stripChanged = document.getElementById('safety-strip-changed');
    this.details = document.getElementById('e2ee-details');
    this.lock = document.getElementById('e2ee-status');
    this.code = ''; // the code the pictures show ('' while there is none)
    this.confirmed = new Set(); // participants this page compared the current code with
    this.others = [];
    this.peopleKey = '';
    this.hiddenByUser = false; // the strip closed for the current pictures
    this.people.addEventListener('change', (event) => {
      const box = event.target.closest('input[type=checkbox][data-pid]');
      if (!box) return;
      if (box.checked) this.confirmed.add(box.dataset.pid);
      else this.confirmed.delete(box.dataset.pid);
      this.renderDone();
    });
    // Folds the encryption details away again (as the lock button does), focus on that button.
    document.getElementById('safety-close').addEventListener('click', () => {
      this.setOpen(false);
      this.lock.focus();
    });
    // The strip's button: the panel with the names and the ticks, focus on its heading.
    document.getElementById('safety-open').addEventListener('click', () => {
      this.setOpen(true);
      document.getElementById('safety-title').focus();
    });
    document.getElementById('safety-strip-close').addEventListener('click', () => {
      this.hiddenByUser = true;
      this.renderStrip();
      this.lock.focus();
    });
    // Whoever opens or closes the details (the lock button too): the strip follows.
    new MutationObserver(() => this.renderStrip())
      .observe(this.details, { attributes: true, attributeFilter: ['hidden'] });
  }

  /**
   * The encryption state, the code (digits, '' for none), the hash both come from, and the
   * other participants in the call ([{id, name}]).
   */
  update(state, code, digest, others) {
    // Alone in the call there is nobody to compare with: no pictures until someone comes.
    const current = state === 'on' && code && digest && others.length ? code : '';
    this.others = others;
    if (current !== this.code) {
      if (this.code) {
        // The code people may already have compared is gone: say so, and start over.
        this.changed.hidden = false;
        this.stripChanged.hidden = false;
        announce(t('The safety pictures have changed. Compare them again with everyone.'));
      }
      this.confirmed.clear();
      this.hiddenByUser = false;
      this.code = current;
      if (current) this.renderPictures(digest);
    }
    this.digits.textContent = current || '\u2013';
    this.box.hidden = !current;
    this.renderPeople();
  }

  renderPictures(digest) {
    const pictures = sasEmoji(digest);
    this.list.replaceChildren(...pictures.map((picture, i) => el(
      'li', { className: 'sas-item', 'data-index': String(picture.index) },
      el('span', { className: 'sas-pos', 'aria-hidden': 'true', text: String(i + 1) }),
      el('span', { className: 'sas-pic', 'aria-hidden': 'true', text: picture.emoji }),
      el('span', { className: 'sas-name', text: t(picture.name) }),
    )));
    // Small, without names on screen (the panel has them); a screen reader reads the names.
    this.stripList.replaceChildren(...pictures.map((picture) => el(
      'li', { className: 'sas-strip-item', 'data-index': String(picture.index) },
      el('span', { className: 'sas-pic', 'aria-hidden': 'true', text: picture.emoji }),
      el('span', { className: 'visually-hidden', text: t(picture.name) }),
    )));
  }

  renderPeople() {
    const present = new Set(this.others.map((p) => p.id));
    for (const id of [...this.confirmed]) if (!present.has(id)) this.confirmed.delete(id);
    // Rebuilt only when the people change: a checkbox keeps its focus through other updates.
    const key = JSON.stringify(this.others.map((p) => [p.id, p.name]));
    if (key !== this.peopleKey) {
      this.peopleKey = key;
      this.people.replaceChildren(...this.others.map((person) => {
        const id = `safety-with-${person.id}`;
        return el('li', { className: 'safety-person' },
          el('input', { type: 'checkbox', id, 'data-pid': person.id }),
          el('label', { for: id },
            t('Same pictures as {name}', { name: `\u2068${person.name}\u2069` })));
      }));
    }
    for (const box of this.people.querySelectorAll('input')) {
      box.checked = this.confirmed.has(box.dataset.pid);
    }
    this.renderDone();
  }

  /** Compared with everyone now? */
  get complete() {
    return this.others.length > 0 && this.others.every((p) => this.confirmed.has(p.id));
  }

  renderDone() {
    const all = this.complete;
    this.done.hidden = !all;
    if (all) {
      // Compared again: the warning has done its job.
      this.changed.hidden = true;
      this.stripChanged.hidden = true;
    }
    this.renderStrip();
  }

  renderStrip() {
    const open = !this.details.hidden;
    this.strip.hidden = !this.code || open || this.complete || this.hiddenByUser;
    document.getElementById('safety-open').setAttribute('aria-expanded', String(open));
  }

  /** Open or close the encryption details (the lock button's panel). */
  setOpen(open) {
    this.details.hidden = !open;
    this.lock.setAttribute('aria-expanded', String(open));
    this.renderStrip();
  }
}
