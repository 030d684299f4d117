// Translated strings for the page's scripts: the server puts this language's catalog in a JSON
// data block (no inline script), keyed by the English source text.

function readJson(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : {};
}

const strings = readJson('lj-strings');

/** The page's data block: language, direction and what the server knows about this page. */
export const page = readJson('lj-page');

/** Easy German (Leichte Sprache, the private-use tag de-x-ls) is German to Intl and to
 * `lang` attributes; every other language is its own locale (as `locale_of` on the server). */
export function localeOf(lang) {
  return lang === 'de-x-ls' ? 'de' : lang;
}

/** The locale for dates, numbers and plural rules on this page. */
export const locale = page.locale || localeOf(page.lang || 'de');

function fill(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, key) => (key in vars ? String(vars[key]) : whole));
}

/** Translate `message`, filling `{name}` placeholders from `vars`. */
export function t(message, vars) {
  const text = strings[message];
  return fill(typeof text === 'string' && text ? text : message, vars);
}

let pluralRules = null;

/**
 * Translate a message with plural forms for `count` ("1 новое", "3 новых", "5 новых"), filling
 * `{count}` and the placeholders of `vars`. The server sends a text per CLDR plural category
 * of the page's language; Intl.PluralRules picks one.
 */
export function tn(singular, plural, count, vars) {
  const forms = strings[singular];
  let text = count === 1 ? singular : plural;
  if (forms && typeof forms === 'object') {
    if (!pluralRules) pluralRules = new Intl.PluralRules(locale);
    text = forms[pluralRules.select(count)] || forms.other || text;
  }
  return fill(text, { count, ...vars });
}

/** The translated name of a role. */
export function roleName(role) {
  switch (role) {
    case 'caseworker': return t('Caseworker');
    case 'jobseeker': return t('Jobseeker');
    case 'employer': return t('Employer');
    case 'interpreter': return t('Interpreter (role)');
    default: return role;
  }
}

/** The job centre's time zone (the server's `timezone` setting), as the server renders times. */
export const timeZone = page.timezone || undefined;

/** A date and time in the page's language and the job centre's time zone. */
export function formatDateTime(epochSeconds) {
  return new Intl.DateTimeFormat(locale, {
    dateStyle: 'full', timeStyle: 'short', timeZone,
  }).format(new Date(epochSeconds * 1000));
}

/** A clock time in the page's language and the job centre's time zone. */
export function formatTime(epochSeconds) {
  return new Intl.DateTimeFormat(locale, {
    timeStyle: 'short', timeZone,
  }).format(new Date(epochSeconds * 1000));
}

// ---- wall-clock arithmetic in the job centre's zone (no library: Intl only) ------------

const partsFormats = new Map();

function partsFormat(zone) {
  const key = zone || '';
  if (!partsFormats.has(key)) {
    partsFormats.set(key, new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }));
  }
  return partsFormats.get(key);
}

/** What a clock in `zone` shows at an instant (epoch ms): {year, month, day, hour, minute, second}. */
export function wallClock(epochMs, zone = timeZone) {
  const out = {};
  for (const { type, value } of partsFormat(zone).formatToParts(new Date(epochMs))) {
    if (type !== 'literal') out[type] = Number(value);
  }
  if (out.hour === 24) out.hour = 0; // older engines write midnight as 24 despite h23
  return out;
}

/** The zone's offset from UTC at an instant (epoch ms), in minutes: Berlin 60 in winter, 120 in summer. */
export function zoneOffsetMinutes(epochMs, zone = timeZone) {
  const w = wallClock(epochMs, zone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60000);
}

/**
 * The instant (epoch ms) at which the zone's clock shows `date` (YYYY-MM-DD) and `time`
 * (HH:MM); NaN when either is malformed. A time skipped when the clocks go forward is read
 * with the offset from before the change (02:30 becomes 03:30), as Temporal does.
 */
export function zonedToEpochMs(date, time, zone = timeZone) {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date || '');
  const t = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(time || '');
  if (!d || !t) return NaN;
  const local = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]),
    Number(t[1]), Number(t[2]), Number(t[3] || 0));
  if (Number.isNaN(local)) return NaN;
  const first = local - zoneOffsetMinutes(local, zone) * 60000;
  const firstOffset = zoneOffsetMinutes(first, zone);
  const second = local - firstOffset * 60000;
  if (second === first) return first;
  if (zoneOffsetMinutes(second, zone) * 60000 === local - second) return second;
  return Math.max(first, second); // in the gap of a spring-forward change
}

/** Midnight (epoch ms) of the zone's calendar day `days` after the one at `epochMs`. */
export function zoneMidnight(epochMs, days = 0, zone = timeZone) {
  const w = wallClock(epochMs, zone);
  const day = new Date(Date.UTC(w.year, w.month - 1, w.day + days));
  return zonedToEpochMs(day.toISOString().slice(0, 10), '00:00', zone);
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** The zone's date (YYYY-MM-DD) and clock time (HH:MM) at an instant, as form inputs take them. */
export function dateAndTimeInZone(epochMs, zone = timeZone) {
  const w = wallClock(epochMs, zone);
  return {
    date: `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`,
    time: `${pad(w.hour)}:${pad(w.minute)}`,
  };
}

/** ISO 8601 with the zone's offset at that instant: 2025-07-01T10:00:00+02:00. */
export function isoInZone(epochMs, zone = timeZone) {
  const w = wallClock(epochMs, zone);
  const offset = zoneOffsetMinutes(epochMs, zone);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`
    + `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
