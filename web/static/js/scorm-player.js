// An imported SCORM 1.2 course in the jobseeker's space. The course's pages run in a sandboxed
// frame (no allow-same-origin: they cannot touch this page, its cookies or the API); here,
// scorm-again's Scorm12API answers their runtime calls, which reach it over postMessage
// through scorm-again's CrossFrameLMS, accepted only from this frame. Whenever the course
// commits or finishes, its lesson_status and score go to the server, which records them as
// xAPI statements (completed, passed or failed, with the score).

import { CrossFrameLMS } from '/static/vendor/scorm-again/cross-frame-lms.min.js';
import { Scorm12API } from '/static/vendor/scorm-again/scorm12.min.js';
import { courseCall } from './course-api.js';
import { page, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
let frame = $('scorm-frame');

/** A call to this course's API; a failure says what the server said, or that saving failed. */
async function post(path, body) {
  try {
    return await courseCall(path, body);
  } catch (error) {
    throw new Error(error.body.error || t('The course could not be saved. Please check the connection.'));
  }
}

function showError(message) {
  $('learning-error').textContent = message || '';
  $('learning-error').hidden = !message;
}

const api = new Scorm12API({ autocommit: false, lmsCommitUrl: false, logLevel: 5 });
// The learner is known to the course only by the profile's pseudonymous id, never by name.
// On a later visit the course gets back where it was left (entry "resume").
const core = { student_id: page.learner, student_name: '' };
const resume = page.resume;
if (resume) {
  Object.assign(core, { entry: 'resume', lesson_location: resume.lesson_location, lesson_status: resume.lesson_status });
  api.loadFromJSON({ core, suspend_data: resume.suspend_data }, '');
} else {
  api.loadFromJSON({ core }, '');
}

/** Only the course's own frame may call the runtime. */
class FrameLMS extends CrossFrameLMS {
  _onMessage(event) {
    if (event.source === frame.contentWindow) super._onMessage(event);
  }
}
// The sandboxed frame's origin is opaque ("null"): replies cannot name it, so they go to
// '*', and FrameLMS checks the sender instead.
// Each call in the frame is two messages (the call, then a cache refresh): a course that sets
// fifty values at once must not hit scorm-again's default of 100 messages a second.
const lms = new FrameLMS(api, '*', { rateLimit: 1000 });
window.addEventListener('pagehide', () => lms.destroy());

let saved = '';
let saving = Promise.resolve();

function result() {
  const now = api.cmi.core;
  const raw = now.score.raw;
  const score = raw === '' || raw === undefined ? null : { raw, min: now.score.min, max: now.score.max };
  return {
    lesson_status: now.lesson_status || 'not attempted',
    score,
    lesson_location: now.lesson_location || '',
    suspend_data: api.cmi.suspend_data || '',
  };
}

function statusText(progress) {
  const score = progress.score === null ? null : new Intl.NumberFormat(page.lang, { style: 'percent' }).format(progress.score);
  switch (progress.status) {
    case 'passed': return score ? t('Passed with {score}. Your result is saved.', { score }) : t('Passed. Your result is saved.');
    case 'failed': return score ? t('Not passed yet ({score}). Your result is saved.', { score }) : t('Not passed yet. Your result is saved.');
    case 'completed': return t('Completed. Your result is saved.');
    default: return '';
  }
}

/** Send the course's result when it changed since the last time. */
function save() {
  const body = result();
  const key = JSON.stringify(body);
  if (key === saved) return saving;
  saved = key;
  saving = saving.then(async () => {
    try {
      const data = await post('/scorm', body);
      showError('');
      const text = statusText(data.progress);
      if (text) $('scorm-status').textContent = text;
    } catch (error) {
      saved = '';
      showError(error.message);
    }
  });
  return saving;
}

api.on('LMSCommit', save);
api.on('LMSFinish', save);

async function start() {
  try {
    await post('/launch');
  } catch (error) {
    showError(error.message);
    return;
  }
  // The course's runtime end answers synchronous calls from a cache that the parent fills
  // only after LMSInitialize; the frame's name hands it the starting values at once
  // (scorm-frame.js reads and clears it), so a course sees its suspend_data right away.
  // A frame takes its name when it is made, so a fresh one replaces the placeholder.
  const fresh = frame.cloneNode(false);
  fresh.name = JSON.stringify(api.getFlattenedCMI());
  fresh.src = page.launch;
  frame.replaceWith(fresh);
  frame = fresh;
}

start();
