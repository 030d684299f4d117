// Translated strings for the page's scripts: the server puts this language's catalog in a JSON
// data block (no inline script), keyed by the English source text.

function readJson(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : {};
}

const strings = readJson('lj-strings');

/** The page's data block: language, direction and what the server knows about this page. */
export const page = readJson('lj-page');

/** Translate `message`, filling `{name}` placeholders from `vars`. */
export function t(message, vars) {
  const text = strings[message] || message;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in vars ? String(vars[key]) : whole));
}

/** The translated name of a role. */
export function roleName(role) {
  switch (role) {
    case 'caseworker': return t('Caseworker');
    case 'jobseeker': return t('Jobseeker');
    case 'employer': return t('Employer');
    default: return role;
  }
}

/** The job centre's time zone (the server's `timezone` setting), as the server renders times. */
export const timeZone = page.timezone || undefined;

/** A date and time in the page's language and the job centre's time zone. */
export function formatDateTime(epochSeconds) {
  return new Intl.DateTimeFormat(page.lang, {
    dateStyle: 'full', timeStyle: 'short', timeZone,
  }).format(new Date(epochSeconds * 1000));
}

/** A clock time in the page's language and the job centre's time zone. */
export function formatTime(epochSeconds) {
  return new Intl.DateTimeFormat(page.lang, {
    timeStyle: 'short', timeZone,
  }).format(new Date(epochSeconds * 1000));
}
