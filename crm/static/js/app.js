// netzwerk-crm: small progressive enhancements. No inline scripts anywhere (CSP).
(function () {
  "use strict";
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  // htmx requests carry the CSRF token like forms do.
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (tokenMeta) {
      event.detail.headers["X-CSRFToken"] = tokenMeta.getAttribute("content");
    }
  });
  // Selects marked data-autosubmit submit their form on change; the button stays for
  // keyboard and no-JS users.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Buttons marked data-print print the page (the print style leaves out navigation and
  // filters). They are hidden until this runs: without JavaScript the browser's own print
  // command does the same.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  // Parts marked data-only-when="<id of a select>" show only while that select has one of
  // the space-separated data-only-values (e.g. the fair checklist option for fairs only).
  // Without JavaScript they stay visible and their help text says when they apply.
  document.querySelectorAll("[data-only-when]").forEach(function (part) {
    var select = document.getElementById(part.getAttribute("data-only-when"));
    if (!select) { return; }
    var values = (part.getAttribute("data-only-values") || "").split(" ");
    function update() { part.hidden = values.indexOf(select.value) === -1; }
    select.addEventListener("change", update);
    update();
  });
  // Forms with data-confirm ask before submitting (delete, deactivate …).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
