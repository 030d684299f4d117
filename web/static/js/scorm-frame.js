// Put in the head of every page of an imported SCORM course (by the server, after
// scorm-again's cross-frame-api.min.js). The course runs in a sandboxed frame with an opaque
// origin, so it cannot reach the parent page's runtime directly: its window.API is scorm-again's
// CrossFrameAPI, which answers SCORM 1.2's synchronous calls from its cache and passes each on
// to the parent page over postMessage (scorm-player.js answers only this frame).
/* global CrossFrameAPI */
(function () {
  'use strict';
  if (window.parent === window || typeof CrossFrameAPI !== 'function') return;
  window.API = new CrossFrameAPI('*', window.parent);
}());
