// A minimal SCORM 1.2 SCO, the way authoring tools find the runtime: window.API here or in a
// parent frame (a sandboxed frame cannot read its parent, so the lookup must stop quietly).
function findAPI(win) {
  for (let hops = 0; win && hops < 10; hops += 1) {
    try {
      if (win.API) return win.API;
    } catch (e) {
      return null;
    }
    if (win.parent === win) break;
    win = win.parent;
  }
  return null;
}

const api = findAPI(window);
const state = document.getElementById('api-state');
if (!api) {
  state.textContent = 'No LMS found.';
} else {
  api.LMSInitialize('');
  // A course keeps its own place: suspend_data comes back on the next visit.
  const kept = api.LMSGetValue('cmi.suspend_data');
  const entry = api.LMSGetValue('cmi.core.entry');
  const learner = api.LMSGetValue('cmi.core.student_id');
  if (!kept) api.LMSSetValue('cmi.core.lesson_status', 'incomplete');
  api.LMSSetValue('cmi.core.lesson_location', 'page-1');
  api.LMSSetValue('cmi.suspend_data', 'visited=1');
  api.LMSCommit('');
  state.textContent = kept ? `Resumed (${entry}): ${kept}` : 'Started.';
  document.getElementById('learner').textContent = learner;
  document.getElementById('finish').addEventListener('click', () => {
    api.LMSSetValue('cmi.core.score.min', '0');
    api.LMSSetValue('cmi.core.score.max', '100');
    api.LMSSetValue('cmi.core.score.raw', '80');
    api.LMSSetValue('cmi.core.lesson_status', 'passed');
    api.LMSCommit('');
    api.LMSFinish('');
    state.textContent = 'Finished.';
  });
}
