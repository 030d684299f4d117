// A module in the jobseeker's space, one section at a time. Opening the page records
// `launched` and shows the section to resume at; "Next" records the section as gone through
// (the server moves the resume point on); a quiz question is checked on the server, which
// answers with the feedback for each chosen answer (which answers are right never reaches
// the page before); "Finish" records completion and shows the result.

import { announce } from './announcer.js';
import { courseCall as call } from './course-api.js';
import { el } from './dom.js';
import { locale, localeOf, page, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const sections = page.sections;
let current = 0;

function showError(message) {
  $('learning-error').textContent = message;
  $('learning-error').hidden = !message;
}

function sectionNode(id) {
  return document.querySelector(`.lesson[data-section="${CSS.escape(id)}"]`);
}

/** Show section `index` (or the result when `index` is past the end) and focus its title. */
function show(index, { focus = true } = {}) {
  current = index;
  for (const node of document.querySelectorAll('.lesson')) node.hidden = true;
  const done = index >= sections.length;
  const node = done ? sectionNode('done') : sectionNode(sections[index]);
  node.hidden = false;
  for (const [i, step] of [...$('learning-steps').children].entries()) {
    if (i === index) step.setAttribute('aria-current', 'step');
    else step.removeAttribute('aria-current');
    step.classList.toggle('is-done', i < index);
  }
  $('learning-position').textContent = done ? '' : t('Section {n} of {total}', { n: index + 1, total: sections.length });
  $('learning-prev').hidden = done || index === 0;
  $('learning-next').hidden = done || index === sections.length - 1;
  $('learning-finish').hidden = done || index !== sections.length - 1;
  for (const video of document.querySelectorAll('video')) if (!node.contains(video)) video.pause();
  if (focus) node.querySelector('h2').focus();
}

async function next() {
  showError('');
  const button = $('learning-next');
  button.disabled = true;
  try {
    await call(`/sections/${encodeURIComponent(sections[current])}/experienced`);
    show(current + 1);
  } catch {
    showError(t('That did not work. Please try again.'));
  } finally {
    button.disabled = false;
  }
}

async function previous() {
  showError('');
  if (current === 0) return;
  show(current - 1);
  // Come back here after a reload too (nothing is lost if this fails).
  call('/resume', { section: sections[current] }).catch(() => {});
}

function resultText(progress) {
  const score = progress.score === null ? '' : new Intl.NumberFormat(locale, { style: 'percent' }).format(progress.score);
  if (progress.status === 'passed') return t('Well done! You passed the course with {score}.', { score });
  if (progress.status === 'failed') return t('You finished the course with {score}. Go through the quiz again to pass it.', { score });
  return t('Well done! You finished the course.');
}

async function finish() {
  showError('');
  const button = $('learning-finish');
  button.disabled = true;
  try {
    await call(`/sections/${encodeURIComponent(sections[current])}/experienced`);
    const { progress } = await call('/finish');
    $('learning-result').textContent = resultText(progress);
    sectionNode('done').dataset.status = progress.status;
    show(sections.length);
    announce(resultText(progress));
  } catch (error) {
    showError(error.status === 409
      ? t('Please answer every question of the quiz first.')
      : t('That did not work. Please try again.'));
  } finally {
    button.disabled = false;
  }
}

async function check(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const section = form.closest('.lesson').dataset.section;
  const chosen = [...form.querySelectorAll('input:checked')].map((input) => input.value);
  const box = form.querySelector('.quiz-feedback');
  if (!chosen.length) {
    delete form.dataset.result;
    box.replaceChildren(el('p', { lang: locale, dir: page.dir, text: t('Please choose an answer.') }));
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const result = await call(`/sections/${encodeURIComponent(section)}/answers`, {
      question: form.dataset.question, choices: chosen,
    });
    form.dataset.result = result.correct ? 'correct' : 'wrong';
    const verdict = result.correct ? t('Right!') : t('Not quite. Read the notes and try again.');
    // The verdict and labels are in the page's language, the notes in the course's.
    const mine = { lang: locale, dir: page.dir };
    const notes = el('ul', {}, ...result.feedback.map((item) => el('li', { 'data-choice': item.choice, lang: localeOf(page.moduleLang), dir: page.moduleDir },
      el('strong', { ...mine, text: item.correct ? t('Right answer:') : t('Not right:') }), ' ', item.feedback)));
    box.replaceChildren(el('p', { ...mine, className: 'quiz-verdict' }, el('strong', { text: verdict })), notes);
  } catch {
    box.replaceChildren(el('p', { lang: locale, dir: page.dir, text: t('That did not work. Please try again.') }));
  } finally {
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll('.quiz-question')) form.addEventListener('submit', check);
$('learning-next').addEventListener('click', next);
$('learning-prev').addEventListener('click', previous);
$('learning-finish').addEventListener('click', finish);

// Opening the page is a launch; the server says where to resume.
const start = Math.max(0, sections.indexOf(page.resume));
show(start, { focus: false });
call('/launch').then(({ resume }) => {
  const index = sections.indexOf(resume);
  if (index >= 0 && index !== current) show(index, { focus: false });
}).catch(() => showError(t('That did not work. Please try again.')));
