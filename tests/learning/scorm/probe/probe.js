// What a hostile course would try: read the parent page, the cookies, the parent's storage,
// call the server's API with the learner's session, and navigate the whole tab away. Each
// attempt's outcome is written into the page for the test to read.
const results = document.getElementById('results');

function report(name, outcome) {
  const item = document.createElement('li');
  item.dataset.probe = name;
  item.textContent = outcome;
  results.append(item);
}

function attempt(name, action) {
  try {
    const value = action();
    report(name, `reached: ${String(value).slice(0, 80)}`);
  } catch (e) {
    report(name, `blocked: ${e.name}`);
  }
}

attempt('parent-document', () => window.parent.document.title);
attempt('top-document', () => window.top.document.body.innerHTML.length);
attempt('cookie', () => document.cookie);
attempt('local-storage', () => window.localStorage.length);
attempt('parent-api', () => window.parent.API.LMSInitialize(''));
fetch('/api/space/learning', { credentials: 'include' })
  .then((r) => r.text().then((text) => report('space-api', `reached: ${r.status} ${text.slice(0, 40)}`)))
  .catch((e) => report('space-api', `blocked: ${e.name}`));
attempt('navigate-top', () => {
  window.top.location.href = '/space?stolen=1';
  return 'asked';
});
report('done', 'done');
