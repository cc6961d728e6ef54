// Proof of work for the signing form (see petitions/botcheck.py): find the number n
// with SHA-256(salt + n) == challenge, and send it back in the hidden field. Also
// note when the visitor first interacts with the form and send how long they have
// been busy with it (ms): the time a person takes counts from there, not page load.
(function () {
  "use strict";
  var field = document.querySelector("[data-pow-challenge]");
  if (!field || !window.crypto || !window.crypto.subtle) {
    return;
  }
  var status = document.querySelector("[data-pow-status]");
  var form = field.form;
  var spec = JSON.parse(field.getAttribute("data-pow-challenge"));
  var encoder = new TextEncoder();
  var submitWhenDone = false;
  var active = form.querySelector("[data-active-ms]");
  var firstInteraction = null;
  var MAX_ACTIVE_MS = 24 * 3600 * 1000;

  function noteInteraction() {
    if (firstInteraction === null) {
      firstInteraction = Date.now();
    }
  }
  ["focusin", "keydown", "input", "pointerdown"].forEach(function (type) {
    form.addEventListener(type, noteInteraction, true);
  });

  function recordActiveTime() {
    if (active && firstInteraction !== null) {
      var spent = Date.now() - firstInteraction;
      active.value = String(Math.max(0, Math.min(MAX_ACTIVE_MS, Math.round(spent))));
    }
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  async function solve() {
    for (var n = 0; n <= spec.maxnumber; n++) {
      var digest = await window.crypto.subtle.digest("SHA-256", encoder.encode(spec.salt + n));
      if (hex(digest) === spec.challenge) {
        return n;
      }
    }
    return null;
  }

  if (status) {
    status.textContent = status.getAttribute("data-working");
  }
  var solving = solve().then(function (number) {
    if (number === null) {
      return;
    }
    field.value = btoa(JSON.stringify({
      algorithm: spec.algorithm, challenge: spec.challenge, number: number,
      salt: spec.salt, signature: spec.signature
    }));
    if (status) {
      status.textContent = status.getAttribute("data-done");
    }
    if (submitWhenDone) {
      recordActiveTime();
      form.submit();
    }
  });

  form.addEventListener("submit", function (event) {
    recordActiveTime();
    if (!field.value) {
      event.preventDefault();
      submitWhenDone = true;
      return solving;
    }
  });
})();
