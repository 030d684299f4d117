// The safety check in the call: seven pictures with their names in the page's language, made
// from the same hash as the twelve-digit code (kept under "Show as numbers"), one plain sentence
// on what to do, a "same pictures" checkbox per other participant, and a visible and announced
// warning when the pictures change (someone joined or left, a new key): the ticks are then
// cleared. Everything here is local to this page; nothing is sent.
//
// The panel (web/templates/safety_code.html) sits in the encryption details under the lock
// button; they open by themselves when the first pictures are there and whenever they change.

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
    this.code = ''; // the code the pictures show ('' while there is none)
    this.confirmed = new Set(); // participants this page compared the current code with
    this.others = [];
    this.peopleKey = '';
    this.people.addEventListener('change', (event) => {
      const box = event.target.closest('input[type=checkbox][data-pid]');
      if (!box) return;
      if (box.checked) this.confirmed.add(box.dataset.pid);
      else this.confirmed.delete(box.dataset.pid);
      this.renderDone();
    });
    // Folds the encryption details away again (as the lock button does), focus on that button.
    document.getElementById('safety-close').addEventListener('click', () => {
      const details = document.getElementById('e2ee-details');
      const button = document.getElementById('e2ee-status');
      if (details) details.hidden = true;
      if (button) {
        button.setAttribute('aria-expanded', 'false');
        button.focus();
      }
    });
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
        announce(t('The safety pictures have changed. Compare them again with everyone.'));
      }
      this.confirmed.clear();
      this.code = current;
      if (current) {
        this.renderPictures(digest);
        this.open();
      }
    }
    this.digits.textContent = current || '\u2013';
    this.box.hidden = !current;
    this.renderPeople();
  }

  renderPictures(digest) {
    this.list.replaceChildren(...sasEmoji(digest).map((picture, i) => el(
      'li', { className: 'sas-item', 'data-index': String(picture.index) },
      el('span', { className: 'sas-pos', 'aria-hidden': 'true', text: String(i + 1) }),
      el('span', { className: 'sas-pic', 'aria-hidden': 'true', text: picture.emoji }),
      el('span', { className: 'sas-name', text: t(picture.name) }),
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

  renderDone() {
    const all = this.others.length > 0 && this.others.every((p) => this.confirmed.has(p.id));
    this.done.hidden = !all;
    if (all) this.changed.hidden = true; // compared again: the warning has done its job
  }

  /** Open the encryption details (the lock button's panel) so the pictures can be seen. */
  open() {
    const details = document.getElementById('e2ee-details');
    const button = document.getElementById('e2ee-status');
    if (!details || !details.hidden) return;
    details.hidden = false;
    if (button) button.setAttribute('aria-expanded', 'true');
  }
}
