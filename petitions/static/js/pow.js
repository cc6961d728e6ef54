// Proof of work for the signing form (see petitions/botcheck.py): find the number n
// with SHA-256(salt + n) == challenge, and send it back in the hidden field.
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
      form.submit();
    }
  });

  form.addEventListener("submit", function (event) {
    if (!field.value) {
      event.preventDefault();
      submitWhenDone = true;
      return solving;
    }
  });
})();
