// A jobseeker's e-learning in the console: which modules are recommended (and by when),
// started, completed or passed, the score and the last activity; recommending a module;
// downloading the profile's statements as xAPI JSON (the server audits the export).
// It hooks itself in: each jobseeker in the profile list gets a "Learning" button, so the
// profile list's own code needs no change.

import { api } from './api.js';
import { el } from './dom.js';
import { formatDateTime, locale, page, t, tn } from './i18n.js';

const $ = (id) => document.getElementById(id);

function statusText(progress) {
  switch (progress.status) {
    case 'started': return t('Started');
    case 'completed': return t('Completed');
    case 'passed': return t('Passed');
    case 'failed': return t('Not passed yet');
    default: return t('Not started');
  }
}

function formatDay(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
}

class LearningPanel {
  constructor() {
    this.profile = null;
    this.modules = [];
    $('close-learning').addEventListener('click', () => {
      $('profile-learning').hidden = true;
      this.profile = null;
    });
    $('reload-learning').addEventListener('click', () => this.load());
    $('recommend-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.recommend();
    });
  }

  async open(profile) {
    this.profile = profile;
    $('profile-learning-title').textContent = t('Learning of {name}', { name: profile.name });
    $('export-learning').href = `/api/profiles/${encodeURIComponent(profile.id)}/learning/statements`;
    $('profile-learning').hidden = false;
    await this.load();
    $('profile-learning').focus();
  }

  fail(error) {
    if (error.status === 401) {
      window.location.assign('/console/login');
      return;
    }
    $('profile-learning-error').textContent = error.message;
    $('profile-learning-error').hidden = false;
  }

  row(card) {
    const p = card.progress;
    const rec = card.recommended;
    const recommended = rec ? (rec.due ? t('Yes, by {date}', { date: formatDay(rec.due) }) : t('Yes')) : '–';
    const actions = el('td');
    if (rec) {
      const withdraw = el('button', { type: 'button', className: 'button secondary', text: t('Withdraw recommendation') });
      withdraw.addEventListener('click', () => this.withdraw(card.id));
      actions.append(withdraw);
    }
    return el('tr', { 'data-module': card.id, 'data-status': p.status },
      el('td', { text: card.title }),
      el('td', { className: 'learning-recommended', text: recommended }),
      el('td', { className: 'learning-status', text: statusText(p) }),
      el('td', { className: 'learning-score', text: p.score === null ? '–' : new Intl.NumberFormat(locale, { style: 'percent' }).format(p.score) }),
      el('td', {}, p.last_activity
        ? el('time', { datetime: new Date(p.last_activity * 1000).toISOString(), text: formatDateTime(p.last_activity) })
        : '–'),
      actions);
  }

  async load() {
    if (!this.profile) return;
    $('profile-learning-error').hidden = true;
    try {
      const data = await api('GET', `/api/profiles/${encodeURIComponent(this.profile.id)}/learning?lang=${encodeURIComponent(page.lang)}`);
      this.modules = data.modules;
      $('profile-learning-rows').replaceChildren(...data.modules.map((card) => this.row(card)));
      this.attendance(data.attendance);
      $('learning-summary').textContent = data.last_activity
        ? t('Last activity: {when}', { when: formatDateTime(data.last_activity) })
        : t('No learning activity yet.');
      const select = $('recommend-module');
      const chosen = select.value;
      select.replaceChildren(...data.modules.map((card) => el('option', { value: card.id, text: card.title })));
      if (chosen) select.value = chosen;
    } catch (error) {
      this.fail(error);
    }
  }

  /** The appointments of the last half year, attended or missed, next to the learning. */
  attendance(a) {
    $('learning-attendance').textContent = a.appointments
      ? tn('Came to {attended} of {count} appointment in the last {days} days.',
        'Came to {attended} of {count} appointments in the last {days} days.',
        a.appointments, { attended: a.attended, days: a.days })
      : t('No appointments in the last {days} days.', { days: a.days });
    $('learning-visits').replaceChildren(...a.recent.map((v) => el('li', { 'data-attended': String(v.attended), 'data-kind': v.kind },
      el('time', { datetime: new Date(v.starts_at * 1000).toISOString(), text: formatDateTime(v.starts_at) }),
      ' ', el('bdi', { text: v.title }), ' – ',
      v.attended === null
        ? el('span', { className: 'visit-unmarked', text: t('not marked yet') })
        : el('span', { className: v.attended ? 'visit-attended' : 'visit-missed', text: v.attended ? t('attended') : t('missed') }))));
  }

  async recommend() {
    $('profile-learning-error').hidden = true;
    const body = { module: $('recommend-module').value };
    if ($('recommend-due').value) body.due = $('recommend-due').value;
    try {
      await api('POST', `/api/profiles/${encodeURIComponent(this.profile.id)}/learning/recommendations`, body);
      $('recommend-due').value = '';
      await this.load();
    } catch (error) {
      this.fail(error);
    }
  }

  async withdraw(moduleId) {
    try {
      await api('DELETE', `/api/profiles/${encodeURIComponent(this.profile.id)}/learning/recommendations/${encodeURIComponent(moduleId)}`);
      await this.load();
    } catch (error) {
      this.fail(error);
    }
  }
}

const panel = new LearningPanel();

/** Per course: who it is recommended to, and who is behind (overdue, or never opened). */
class CourseLearners {
  constructor() {
    $('course-learners-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.show();
    });
    this.fill();
  }

  async fill() {
    try {
      const data = await api('GET', `/api/learning/modules?lang=${encodeURIComponent(page.lang)}`);
      $('course-learners-module').replaceChildren(...data.modules.map((m) => el('option', { value: m.id, text: m.title })));
    } catch (error) {
      this.fail(error);
    }
  }

  fail(error) {
    if (error.status === 401) {
      window.location.assign('/console/login');
      return;
    }
    $('course-learners-error').textContent = error.message;
    $('course-learners-error').hidden = false;
  }

  async show() {
    $('course-learners-error').hidden = true;
    const module = $('course-learners-module').value;
    if (!module) return;
    try {
      const data = await api('GET', `/api/learning/modules/${encodeURIComponent(module)}/learners`);
      $('course-learners-rows').replaceChildren(...data.learners.map((x) => el('tr', { 'data-profile': x.profile, 'data-behind': x.behind || '' },
        el('td', {}, el('bdi', { text: x.name })),
        el('td', { text: x.recommended && x.recommended.due ? formatDay(x.recommended.due) : '–' }),
        el('td', { text: statusText(x.progress) }),
        el('td', {}, x.progress.last_activity
          ? el('time', { datetime: new Date(x.progress.last_activity * 1000).toISOString(), text: formatDateTime(x.progress.last_activity) })
          : '–'),
        el('td', { className: 'learning-behind', text: x.behind === 'overdue' ? t('Overdue')
          : x.behind === 'not_started' ? t('Not opened yet') : '–' }))));
      $('course-learners-table').hidden = data.learners.length === 0;
      $('course-learners-summary').textContent = data.learners.length
        ? tn('Recommended to {count} person; behind: {behind}.', 'Recommended to {count} people; behind: {behind}.',
          data.learners.length, { behind: data.behind })
        : t('This course is not recommended to anyone yet.');
    } catch (error) {
      this.fail(error);
    }
  }
}

new CourseLearners();

/** Give each jobseeker in the profile list a "Learning" button (once). */
function addButtons() {
  for (const item of document.querySelectorAll('#profile-list .profile-item[data-profile]')) {
    const actions = item.querySelector('.link-actions');
    if (!actions || actions.querySelector('[data-action="learning"]')) continue;
    const button = el('button', { type: 'button', className: 'button secondary', 'data-action': 'learning', text: t('Learning') });
    button.addEventListener('click', () => {
      const name = item.querySelector('bdi');
      panel.open({ id: item.dataset.profile, name: name ? name.textContent : '' });
    });
    const trail = actions.querySelector('[data-action="trail"]');
    if (trail) trail.after(button);
    else actions.append(button);
  }
}

new MutationObserver(addButtons).observe($('profile-list'), { childList: true, subtree: true });
addButtons();
