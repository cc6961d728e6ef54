/* The admin action form: a slug suggested from the title, and "Add another target".
 *
 * Slug: an input with data-slug-from="title" is filled from the title while it is
 * typed, until someone types in the slug itself (or it had a value to begin with).
 * The rule is the server's (services/actions.py slugify): accents dropped, other
 * characters made hyphens; a title with no Latin letter leaves the slug empty, and
 * the server then makes one. Without JavaScript, an empty slug is made there too.
 *
 * Targets: the button with data-add-target copies the row kept in the <template> it
 * names, numbered after the last row, instead of asking the server to re-render.
 */
(function () {
  "use strict";

  var MAX_SLUG = 80;
  var MAX_TARGETS = 50;

  function slugify(text) {
    var ascii = text.normalize("NFKD").replace(/[^\x00-\x7f]/g, "");
    var slug = ascii.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    return slug.slice(0, MAX_SLUG).replace(/-+$/, "");
  }

  function connectSlug(slug) {
    var title = slug.form && slug.form.elements.namedItem(slug.dataset.slugFrom);
    if (!title) {
      return;
    }
    var touched = slug.value !== "" && slug.value !== slugify(title.value);
    slug.addEventListener("input", function () {
      touched = slug.value !== "";
    });
    title.addEventListener("input", function () {
      if (!touched) {
        slug.value = slugify(title.value);
      }
    });
  }

  function connectTargets(button) {
    var template = document.getElementById(button.dataset.addTarget);
    var fieldset = button.closest("fieldset");
    if (!template || !fieldset) {
      return;
    }
    button.addEventListener("click", function (event) {
      var rows = fieldset.querySelectorAll(".target-row");
      if (rows.length >= MAX_TARGETS) {
        return; // the server says why
      }
      event.preventDefault();
      var index = String(rows.length);
      var html = template.innerHTML
        .replace(/__index__/g, index)
        .replace(/__number__/g, String(rows.length + 1));
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      fieldset.insertBefore(row, template);
      var first = row.querySelector("input");
      if (first) {
        first.focus();
      }
    });
  }

  document.querySelectorAll("input[data-slug-from]").forEach(connectSlug);
  document.querySelectorAll("button[data-add-target]").forEach(connectTargets);
})();
