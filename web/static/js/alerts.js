// Getting the caseworker's attention while she works in another window: a count in the tab's
// title, a short chime (WebAudio; a checkbox turns it off, remembered on this device) and, if
// she allowed them with a click, the browser's notifications. Shared by the console's
// appointment list (someone starts waiting) and its help inbox (a new request).

const baseTitle = document.title;
const counts = new Map(); // source -> { count, label }, in the order the sources first counted
let audio = null;

/** Show `count` things of one `source` in the tab's title ("(1) waiting · Console"); 0 clears. */
export function setTitleCount(source, count, label) {
  if (count > 0) counts.set(source, { count, label });
  else counts.delete(source);
  const parts = [...counts.values()].map((c) => `(${c.count}) ${c.label}`);
  document.title = parts.length ? `${parts.join(' · ')} · ${baseTitle}` : baseTitle;
}

/** Bind a "sound on" checkbox to localStorage[`key`] (on unless switched off); returns a
 * function that says whether the sound is on now. */
export function soundSwitch(checkbox, key) {
  checkbox.checked = localStorage.getItem(key) !== 'off';
  checkbox.addEventListener('change', () => {
    localStorage.setItem(key, checkbox.checked ? 'on' : 'off');
  });
  return () => checkbox.checked;
}

// Browsers let a page make sound only after the user did something on it.
function unlockAudio() {
  if (!audio && window.AudioContext) audio = new AudioContext();
  if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
}
document.addEventListener('pointerdown', unlockAudio, { once: true });
document.addEventListener('keydown', unlockAudio, { once: true });

/**
 * Two short tones, if `enabled`. `counter` names a data attribute of <body> counted up on
 * every call (data-help-chimes, data-waiting-chimes: what a chime was due for); the sounds
 * actually played are counted in data-chimes-played (none before a click or key press
 * unlocked the audio, none while switched off).
 */
export function chime(counter, enabled) {
  const body = document.body.dataset;
  body[counter] = String(Number(body[counter] || 0) + 1);
  if (!enabled || !audio) return;
  const start = audio.currentTime;
  [660, 880].forEach((frequency, i) => {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.2, start + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.18 + 0.16);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + i * 0.18);
    tone.stop(start + i * 0.18 + 0.17);
  });
  body.chimesPlayed = String(Number(body.chimesPlayed || 0) + 1);
}

function canNotify() {
  return 'Notification' in window;
}

/**
 * The "Enable notifications" button and its status line: permission is asked for only when
 * the button is clicked; once granted (or blocked) the button goes and the line says so.
 */
export function notificationControls(button, status, texts) {
  const show = () => {
    const permission = canNotify() ? Notification.permission : 'unsupported';
    button.hidden = permission !== 'default';
    status.textContent = texts[permission] || '';
    status.hidden = !status.textContent;
  };
  show();
  button.addEventListener('click', async () => {
    if (!canNotify()) return;
    try {
      await Notification.requestPermission();
    } catch {
      // an old browser's callback form, or a refusal: the status line tells
    }
    show();
    if (!button.hidden) return;
    status.focus();
  });
}

/** A browser notification, if she allowed them and is not looking at this page already.
 * `tag` makes a repeat replace the earlier one instead of piling up. */
export function notify(title, body, tag) {
  if (!canNotify() || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return;
  try {
    const note = new Notification(title, { body, tag });
    note.addEventListener('click', () => {
      window.focus();
      note.close();
    });
  } catch {
    // Some browsers (Android Chrome) allow notifications only from a service worker.
  }
}
