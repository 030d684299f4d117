// Our own picture as a small picture-in-picture over the stage (issue 11, item 4): in one of
// the stage's four corners, never in the middle where the other's face is. It moves by
// dragging (mouse, pen or finger; it snaps to the nearest corner) or with its button: a press
// takes it to the next corner, the arrow keys to the corner in that direction. Corners are
// logical (block start/end, inline start/end), so in Arabic the default, bottom at the inline
// end, is bottom left. The choice lasts for this browser tab.

import { announce } from './announcer.js';
import { t } from './i18n.js';

const CORNERS = ['end-end', 'end-start', 'start-start', 'start-end']; // a press: the next one
const STORE_KEY = 'lj-pip-corner';
const DRAG_THRESHOLD = 6; // px a pointer moves before a press becomes a drag

function stored() {
  try {
    const corner = sessionStorage.getItem(STORE_KEY);
    return CORNERS.includes(corner) ? corner : null;
  } catch (error) {
    return null;
  }
}

export class PictureInPicture {
  /** @param {HTMLElement} tiles  the stage's tile list (its `data-layout` says whether we float) */
  constructor(tiles) {
    this.tiles = tiles;
    this.drag = null;
    this.set(stored() || 'end-end', false);
    tiles.addEventListener('pointerdown', (event) => this.down(event));
    tiles.addEventListener('pointermove', (event) => this.move(event));
    tiles.addEventListener('pointerup', (event) => this.up(event, true));
    tiles.addEventListener('pointercancel', (event) => this.up(event, false));
    tiles.addEventListener('click', (event) => {
      if (event.target.closest('.pip-move')) this.next();
    });
    tiles.addEventListener('keydown', (event) => {
      if (event.target.closest('.pip-move')) this.key(event);
    });
  }

  active() {
    return this.tiles.dataset.layout === 'pip';
  }

  rtl() {
    return getComputedStyle(this.tiles).direction === 'rtl';
  }

  set(corner, say) {
    this.corner = corner;
    this.tiles.dataset.pip = corner;
    try {
      sessionStorage.setItem(STORE_KEY, corner);
    } catch (error) {
      // private mode without storage: the corner lasts for this page only
    }
    if (say) announce(this.describe());
  }

  /** Where the picture is, in words (top/bottom, left/right as the person sees it). */
  describe() {
    const [block, inline] = this.corner.split('-');
    const top = block === 'start';
    const left = (inline === 'start') !== this.rtl();
    if (top) return left ? t('Your picture is now at the top left.') : t('Your picture is now at the top right.');
    return left ? t('Your picture is now at the bottom left.') : t('Your picture is now at the bottom right.');
  }

  next() {
    this.set(CORNERS[(CORNERS.indexOf(this.corner) + 1) % CORNERS.length], true);
  }

  /** Arrow keys: up and down change the row, left and right the side (mirrored in Arabic). */
  key(event) {
    const [block, inline] = this.corner.split('-');
    const rtl = this.rtl();
    const moves = {
      ArrowUp: `start-${inline}`,
      ArrowDown: `end-${inline}`,
      ArrowLeft: `${block}-${rtl ? 'end' : 'start'}`,
      ArrowRight: `${block}-${rtl ? 'start' : 'end'}`,
    };
    const corner = moves[event.key];
    if (!corner) return;
    event.preventDefault();
    if (corner !== this.corner) this.set(corner, true);
  }

  /** The corner nearest to a point (client coordinates). */
  cornerAt(x, y) {
    const r = this.tiles.getBoundingClientRect();
    const block = y < r.top + r.height / 2 ? 'start' : 'end';
    const left = x < r.left + r.width / 2;
    return `${block}-${left !== this.rtl() ? 'start' : 'end'}`;
  }

  down(event) {
    const tile = event.target.closest('.tile-self');
    if (!tile || !this.active() || event.button !== 0 || event.target.closest('.pip-move')) return;
    const box = tile.getBoundingClientRect();
    const stage = this.tiles.getBoundingClientRect();
    this.drag = {
      tile, id: event.pointerId, x: event.clientX, y: event.clientY, moved: false,
      // How far it may go each way without leaving the stage.
      minX: stage.left - box.left, maxX: stage.right - box.right,
      minY: stage.top - box.top, maxY: stage.bottom - box.bottom,
    };
    tile.setPointerCapture(event.pointerId);
  }

  move(event) {
    const drag = this.drag;
    if (!drag || event.pointerId !== drag.id) return;
    const dx = Math.min(Math.max(event.clientX - drag.x, drag.minX), drag.maxX);
    const dy = Math.min(Math.max(event.clientY - drag.y, drag.minY), drag.maxY);
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
    drag.moved = true;
    drag.tile.classList.add('dragging');
    drag.tile.style.translate = `${dx}px ${dy}px`;
  }

  up(event, drop) {
    const drag = this.drag;
    if (!drag || event.pointerId !== drag.id) return;
    this.drag = null;
    if (drag.tile.hasPointerCapture(event.pointerId)) drag.tile.releasePointerCapture(event.pointerId);
    if (drag.moved && drop) {
      const box = drag.tile.getBoundingClientRect();
      this.set(this.cornerAt(box.left + box.width / 2, box.top + box.height / 2), true);
    }
    drag.tile.classList.remove('dragging');
    drag.tile.style.translate = '';
  }
}
