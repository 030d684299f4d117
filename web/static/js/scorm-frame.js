// Put in the head of every page of an imported SCORM course (by the server, after
// scorm-again's cross-frame-api.min.js). The course runs in a sandboxed frame with an opaque
// origin, so it cannot reach the parent page's runtime directly: its window.API is scorm-again's
// CrossFrameAPI, which answers SCORM 1.2's synchronous calls from its cache and passes each on
// to the parent page over postMessage (scorm-player.js answers only this frame).
/* global CrossFrameAPI */
(function () {
  'use strict';
  if (window.parent === window || typeof CrossFrameAPI !== 'function') return;
  const api = new CrossFrameAPI('*', window.parent);
  // The starting values (student_id, entry, lesson_location, suspend_data, ...) that the
  // parent page put in this frame's name, so the first LMSGetValue calls already have them.
  // `_cache` is CrossFrameAPI's own (scorm-again 3.4.3, pinned): it fills it the same way
  // from the parent's getFlattenedCMI after LMSInitialize.
  let start = null;
  try {
    start = JSON.parse(window.name || 'null');
  } catch (e) {
    start = null;
  }
  window.name = '';
  if (start && typeof start === 'object' && api._cache instanceof Map) {
    for (const [key, value] of Object.entries(start)) {
      if (typeof key === 'string' && key.startsWith('cmi.')) api._cache.set(key, String(value));
    }
  }
  window.API = api;
}());
