// After a failed submission the page comes back at its top, and on a phone the form is
// far below. Give the error summary focus, which also scrolls it into view, so that it
// is seen and read out at once.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
}());
