// In the embeddable widget, framed by another site: tells that page how tall the widget
// is, so that the snippet's script (static/js/embed.js) makes the frame as tall and the
// Sign button is never cut off. Only a height is sent: nothing a visitor typed.
(function () {
  "use strict";
  if (window.parent === window) {
    return;
  }
  var MESSAGE = "petitions:widget-height";
  var sent = 0;

  function send(again) {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height > 0 && (again || height !== sent)) {
      sent = height;
      window.parent.postMessage({type: MESSAGE, height: height}, "*");
    }
  }

  // The framing page's script may load after the widget: it asks, the widget answers.
  window.addEventListener("message", function (event) {
    if (event.source === window.parent && event.data === MESSAGE + "?") {
      send(true);
    }
  });
  if (window.ResizeObserver) {
    new ResizeObserver(function () { send(false); }).observe(document.body);
  }
  window.addEventListener("load", function () { send(false); });
  send(false);
}());
