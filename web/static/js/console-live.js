// The console's live socket (/api/console/live): the server says when something the console
// shows has changed (who waits, is admitted or leaves; an appointment scheduled or cancelled;
// a help request), and the console reads it again at once over the API. Socket messages are
// not slowed down in a hidden tab as timers are, so a caseworker working in another window
// hears at once that someone waits. While the socket is down the console polls as before,
// and while it is up it still reads everything once a minute, in case a notice was lost.

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const SESSION_ENDED = 4401;

class LiveFeed extends EventTarget {
  constructor() {
    super();
    this.live = false;
    this.started = false;
    this.retry = RETRY_MIN_MS;
  }

  start() {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  connect() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${window.location.host}/api/console/live`);
    socket.addEventListener('message', (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === 'ready') {
        this.retry = RETRY_MIN_MS;
        this.setLive(true);
        // Whatever changed while the socket was away: read everything.
        this.changed({ appointments: [], help: true, all: true });
      } else if (msg.type === 'changed') {
        this.changed({ appointments: msg.appointments || [], help: Boolean(msg.help), all: false });
      }
    });
    socket.addEventListener('close', (event) => {
      this.setLive(false);
      if (event.code === SESSION_ENDED) {
        window.location.assign('/console/login');
        return;
      }
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
    });
  }

  changed(detail) {
    this.dispatchEvent(new CustomEvent('changed', { detail }));
  }

  setLive(live) {
    if (live === this.live) return;
    this.live = live;
    document.documentElement.dataset.live = live ? 'on' : 'off';
    this.dispatchEvent(new CustomEvent('live', { detail: live }));
  }
}

/** The page's one live socket, shared by the console's modules. */
export const liveFeed = new LiveFeed();

/**
 * Keep a view fresh: `refresh()` when the feed reports a change it `wants`, when the window
 * gets the focus, every `pollMs` while the feed is down and every `safetyMs` while it is up.
 */
export function keepFresh(refresh, { wants = () => true, pollMs, safetyMs = 60000 }) {
  let timer = null;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(tick, liveFeed.live ? safetyMs : pollMs);
  };
  const tick = () => {
    refresh();
    schedule();
  };
  liveFeed.addEventListener('changed', (event) => {
    if (!wants(event.detail)) return;
    refresh();
    schedule();
  });
  liveFeed.addEventListener('live', schedule);
  window.addEventListener('focus', () => refresh());
  schedule();
  liveFeed.start();
}
