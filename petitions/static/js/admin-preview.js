/* Live preview of an appeal text while it is typed.
 *
 * A textarea with data-preview-url sends its text (with the form's CSRF token)
 * to the admin preview endpoint a moment after typing stops, and shows the HTML
 * the server returns: Markdown rendered and sanitized there, never here.
 * Without JavaScript the form's "Preview" button does the same with a reload.
 */
(function () {
  "use strict";

  var DELAY_MS = 400;

  function connect(textarea) {
    var target = document.getElementById(textarea.dataset.previewTarget);
    var status = document.getElementById(textarea.dataset.previewStatus);
    var token = textarea.form && textarea.form.querySelector("input[name='csrf_token']");
    if (!target || !token || !window.fetch) {
      return;
    }
    var timer = null;
    var controller = null;

    function report(message) {
      if (status) {
        status.textContent = message;
      }
    }

    function refresh() {
      if (controller) {
        controller.abort();
      }
      controller = new AbortController();
      var data = new FormData();
      data.append("csrf_token", token.value);
      data.append("body", textarea.value);
      fetch(textarea.dataset.previewUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        signal: controller.signal
      }).then(function (response) {
        // A redirect means the session ended: the login page is no preview.
        if (!response.ok || response.redirected) {
          throw new Error("preview failed: " + response.status);
        }
        return response.text();
      }).then(function (html) {
        target.innerHTML = html;  // sanitized by the server (nh3)
        report("");
      }).catch(function (error) {
        if (error.name !== "AbortError") {
          report(textarea.dataset.previewError || "");
        }
      });
    }

    textarea.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DELAY_MS);
    });
  }

  document.querySelectorAll("textarea[data-preview-url]").forEach(connect);
})();
