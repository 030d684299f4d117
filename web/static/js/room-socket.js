// The room WebSocket: authenticate with the token, keep the token fresh, and come back by
// itself after a network drop (with the freshest token) until the server says it is over.

/** Close codes after which reconnecting makes no sense (DESIGN.md room protocol). */
export const FINAL_CLOSE = {
  4400: 'bad_messages',
  4403: 'denied',
  4409: 'replaced',
  4410: 'ended',
};

// A token is refreshed a quarter of its remaining life before it expires, at most a minute
// before (ten-minute tokens: after nine minutes; twenty-second tokens: after fifteen seconds).
const REFRESH_LEAD_MAX = 60;
const REFRESH_LEAD_SHARE = 0.25;
const REFRESH_RETRY = 2; // seconds: ask again when no new token came
const BACKOFF = [500, 1000, 2000, 3000, 5000];

/**
 * Events: 'message' (detail: the parsed message), 'reconnecting', 'open',
 * 'closed' (detail: {code, reason}) when it will not come back, and 'authfailed' when a
 * reconnect was refused (the page may then fetch a new token and call `resume(token)`).
 */
export class RoomSocket extends EventTarget {
  /**
   * @param {string} url  the room socket's URL
   * @param {string} token  the room token from /api/join
   * @param {number} exp  its expiry (server time, seconds)
   * @param {number} skew  how far the device's clock is ahead of the server's, in seconds
   */
  constructor(url, token, exp, skew = 0) {
    super();
    this.url = url;
    this.token = token;
    this.exp = exp || 0;
    this.skew = Number.isFinite(skew) ? skew : 0;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.refreshTimer = null;
    this.retryTimer = null;
    this.everOpened = false;
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener('open', () => {
      ws.send(JSON.stringify({ type: 'auth', token: this.token }));
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      this.onMessage(msg);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.onClose(event.code, event.reason);
    });
  }

  onMessage(msg) {
    if (msg.type === 'hello' || msg.type === 'waiting') {
      this.attempt = 0;
      if (typeof msg.exp === 'number') this.exp = msg.exp;
      this.everOpened = true;
      this.dispatchEvent(new Event('open'));
      this.scheduleRefresh();
    } else if (msg.type === 'token') {
      const later = msg.exp > this.exp;
      this.token = msg.token;
      this.exp = msg.exp;
      // A token that ends no later than the last one is capped at the appointment's end.
      if (later) this.scheduleRefresh();
      else clearTimeout(this.refreshTimer);
      return;
    } else if (msg.type === 'error' && msg.code === 'window_closed') {
      clearTimeout(this.refreshTimer); // no fresh token past the appointment's end
    }
    this.dispatchEvent(new CustomEvent('message', { detail: msg }));
  }

  onClose(code, reason) {
    clearTimeout(this.refreshTimer);
    if (this.stopped) return;
    if (code in FINAL_CLOSE) {
      this.stop();
      this.dispatchEvent(new CustomEvent('closed', { detail: { code, reason: FINAL_CLOSE[code] } }));
      return;
    }
    const now = this.serverNow();
    if (code === 4401 || code === 4408 || (this.exp && now > this.exp - 2)) {
      // The token no longer works (expired while we were away): the page may get a new one.
      this.dispatchEvent(new Event('authfailed'));
      return;
    }
    this.dispatchEvent(new Event('reconnecting'));
    const delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnect with a new token (after 'authfailed'). */
  resume(token, exp) {
    this.token = token;
    this.exp = exp || 0;
    this.connect();
  }

  /** The server's clock, as far as the page knows it (expiry times are server times). */
  serverNow() {
    return Date.now() / 1000 - this.skew;
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    if (!this.exp) return;
    const left = this.exp - this.serverNow();
    const lead = Math.min(REFRESH_LEAD_MAX, Math.max(1, left * REFRESH_LEAD_SHARE));
    const wait = Math.max(1, left - lead);
    this.refreshTimer = setTimeout(() => this.refresh(), wait * 1000);
  }

  /** Ask for a fresh token over the open socket; ask again until one comes or it expired. */
  refresh() {
    clearTimeout(this.refreshTimer);
    if (this.stopped || this.serverNow() >= this.exp) return;
    this.send({ type: 'token' });
    this.refreshTimer = setTimeout(() => this.refresh(), REFRESH_RETRY * 1000);
  }

  /** Send a message if the socket is open; returns whether it was sent. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Drop the connection on purpose and open a new one (e.g. when media failed). */
  reconnectNow() {
    if (this.stopped) return;
    const old = this.ws;
    this.ws = null;
    if (old) old.close(4000, 'reconnect');
    this.dispatchEvent(new Event('reconnecting'));
    this.connect();
  }

  /** Leave for good: tell the server, then close. */
  leave() {
    this.send({ type: 'leave' });
    this.stop();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.refreshTimer);
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      const ws = this.ws;
      // Give a just-sent 'leave' a moment to reach the server.
      setTimeout(() => ws.close(1000, 'bye'), 200);
    }
  }
}
