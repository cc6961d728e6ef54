// On another site's page, next to the widget's frame (the snippet the console gives):
// makes each of our widgets' frames as tall as the widget says it is
// (static/js/widget.js), so that the Sign button is visible without scrolling inside
// the frame, whatever the language, the width or the errors shown.
(function () {
  "use strict";
  var MESSAGE = "petitions:widget-height";
  var script = document.currentScript;
  if (!script || !window.URL) {
    return;
  }
  var origin = new URL(script.src).origin;

  function ourFrames() {
    return Array.prototype.filter.call(document.getElementsByTagName("iframe"), function (frame) {
      return frame.src.indexOf(origin + "/") === 0;
    });
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== origin || !data || data.type !== MESSAGE) {
      return;
    }
    var height = Math.ceil(Number(data.height));
    if (!(height > 0 && height < 20000)) {
      return;
    }
    ourFrames().forEach(function (frame) {
      if (frame.contentWindow === event.source) {
        frame.height = String(height);
      }
    });
  });
  // Widgets that loaded before this script said their height to no one: ask again.
  ourFrames().forEach(function (frame) {
    if (frame.contentWindow) {
      frame.contentWindow.postMessage(MESSAGE + "?", origin);
    }
  });
}());
