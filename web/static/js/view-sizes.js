// How tall the page shows each other participant's camera, in device pixels, told to the
// media server (`{type: "view", heights}`): a camera sent as simulcast then comes in the
// smallest layer that fills its tile, so a thumbnail on a phone costs a thumbnail's bandwidth
// and decoding, and a page in the background (or a tile out of sight) costs the least.

const SETTLE = 300; // ms: a resize (rotation, a layout change) settles before it is told
const CHANGE = 0.15; // a height must change by this share to be told again
const MAX_HEIGHT = 4320; // the server's limit

export class ViewSizes {
  /**
   * @param {HTMLElement} tiles  the call's tile list (`li[data-pid][data-source]`)
   * @param {(heights: Object<string, number>) => void} send
   */
  constructor(tiles, send) {
    this.tiles = tiles;
    this.send = send;
    this.me = null;
    this.sent = null;
    this.timer = null;
    this.watched = new WeakSet();
    this.observer = typeof ResizeObserver === 'function' ? new ResizeObserver(() => this.schedule()) : null;
    document.addEventListener('visibilitychange', () => this.schedule());
    window.addEventListener('resize', () => this.schedule());
  }

  /** A new media session (a hello): it knows nothing yet of what we show. */
  reset(me) {
    this.me = me;
    this.sent = null;
    this.schedule();
  }

  /** After the tiles were rebuilt: watch the new ones. */
  update() {
    for (const tile of this.tiles.querySelectorAll('li[data-source="camera"]')) {
      if (this.observer && !this.watched.has(tile)) {
        this.observer.observe(tile);
        this.watched.add(tile);
      }
    }
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.report(), SETTLE);
  }

  heights() {
    const shown = document.visibilityState !== 'hidden';
    const scale = window.devicePixelRatio || 1;
    const heights = {};
    for (const tile of this.tiles.querySelectorAll('li[data-source="camera"]')) {
      const pid = tile.dataset.pid;
      if (!pid || pid === this.me) continue;
      const height = shown ? tile.getBoundingClientRect().height * scale : 0;
      heights[pid] = Math.min(MAX_HEIGHT, Math.max(0, Math.round(height)));
    }
    return heights;
  }

  report() {
    if (!this.me) return;
    const heights = this.heights();
    if (!this.differs(heights)) return;
    this.sent = heights;
    this.send(heights);
  }

  differs(heights) {
    if (!this.sent) return Object.keys(heights).length > 0;
    const keys = new Set([...Object.keys(heights), ...Object.keys(this.sent)]);
    for (const key of keys) {
      const now = heights[key];
      const before = this.sent[key];
      if (now === undefined || before === undefined) return true;
      if ((now === 0) !== (before === 0)) return true;
      if (Math.abs(now - before) > CHANGE * Math.max(now, before)) return true;
    }
    return false;
  }
}
