// Record pickers and the navigation bar's search: the WAI-ARIA combobox pattern over a
// server-rendered list of options. Without this script the fields are plain text inputs that
// the server resolves (pickers) or a plain search form (navigation bar).
(function () {
  "use strict";
  var DELAY = 200;

  function setup(root) {
    var input = root.querySelector("[data-picker-input]");
    var listbox = root.querySelector('[role="listbox"]');
    var hidden = root.querySelector("[data-picker-value]");
    var status = root.querySelector("[data-picker-status]");
    var navigate = root.hasAttribute("data-navigate");
    if (!input || !listbox) { return; }
    var timer = null;
    var sequence = 0;
    var active = -1;
    var chosenLabel = input.value;

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);

    function options() { return listbox.querySelectorAll('[role="option"]'); }

    function say(text) { if (status) { status.textContent = text; } }

    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function open() {
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function highlight(index) {
      var opts = options();
      if (!opts.length) { return; }
      if (index < 0) { index = opts.length - 1; }
      if (index >= opts.length) { index = 0; }
      opts.forEach(function (opt, i) {
        opt.setAttribute("aria-selected", i === index ? "true" : "false");
        opt.classList.toggle("active", i === index);
      });
      active = index;
      input.setAttribute("aria-activedescendant", opts[index].id);
      opts[index].scrollIntoView({ block: "nearest" });
    }

    // Others may follow the choice (the placement form loads the chosen firm's needs).
    function setValue(value) {
      if (!hidden || hidden.value === value) { return; }
      hidden.value = value;
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function choose(opt) {
      var template = root.getAttribute("data-url-template");
      if (template) {
        // e.g. the merge page: the chosen record's id goes into the next page's address.
        window.location.assign(template.replace("{id}", encodeURIComponent(opt.getAttribute("data-value"))));
        return;
      }
      if (navigate && opt.getAttribute("data-url")) {
        window.location.assign(opt.getAttribute("data-url"));
        return;
      }
      setValue(opt.getAttribute("data-value"));
      input.value = opt.getAttribute("data-label");
      chosenLabel = input.value;
      close();
      say(opt.getAttribute("data-label"));
    }

    function load() {
      var query = input.value.trim();
      if (!query) { listbox.innerHTML = ""; close(); return; }
      var mine = ++sequence;
      var source = root.getAttribute("data-source");
      var url = source + (source.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Requested-With": "picker" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (mine !== sequence) { return; }  // an older answer arriving late
          // The fragment is rendered (and escaped) by our own server, like an htmx swap.
          listbox.innerHTML = html;
          options().forEach(function (opt, i) {
            opt.id = listbox.id + "-option-" + i;
            opt.addEventListener("mousedown", function (event) { event.preventDefault(); });
            opt.addEventListener("click", function () { choose(opt); });
          });
          active = -1;
          input.removeAttribute("aria-activedescendant");
          var count = options().length;
          if (listbox.textContent.trim()) { open(); } else { close(); }
          var msg = count ? root.getAttribute("data-msg-count") : root.getAttribute("data-msg-none");
          say((msg || "").replace("{n}", String(count)));
        })
        .catch(function () { close(); });
    }

    input.addEventListener("input", function () {
      if (input.value !== chosenLabel) { setValue(""); }
      window.clearTimeout(timer);
      timer = window.setTimeout(load, DELAY);
    });

    input.addEventListener("keydown", function (event) {
      var isOpen = !listbox.hidden;
      if (event.key === "ArrowDown" || event.key === "Down") {
        event.preventDefault();
        if (!isOpen && options().length) { open(); }
        highlight(active + 1);
      } else if (event.key === "ArrowUp" || event.key === "Up") {
        event.preventDefault();
        if (!isOpen && options().length) { open(); }
        highlight(active - 1);
      } else if (event.key === "Enter") {
        if (isOpen && active >= 0) {
          event.preventDefault();
          choose(options()[active]);
        }
      } else if (event.key === "Escape" || event.key === "Esc") {
        if (isOpen) {
          event.preventDefault();
          close();
        } else if (input.value) {
          event.preventDefault();
          input.value = "";
          setValue("");
          chosenLabel = "";
        }
      } else if (event.key === "Tab") {
        close();
      }
    });

    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
  }

  document.querySelectorAll("[data-picker]").forEach(setup);
})();
