// jirahooks web UI: small progressive enhancements on top of htmx (no build step).
// Dialogs, focus after partial updates, drag-and-drop ordering, copy buttons, toasts.
(function () {
  "use strict";

  function openDialog(id) {
    var dialog = document.getElementById(id);
    if (dialog && !dialog.open) {
      dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    }
  }

  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.classList.add("show");
    window.setTimeout(function () { box.classList.remove("show"); }, 3000);
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-open-dialog]");
    if (target) openDialog(target.getAttribute("data-open-dialog"));
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) dialog.close();
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (!source) return;
      var text = source.value !== undefined ? source.value : source.textContent;
      var done = function () { copy.textContent = document.body.getAttribute("data-copied") || "Copied"; toast(document.body.getAttribute("data-copied-toast") || "Copied to the clipboard"); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(source, done); });
      } else {
        fallbackCopy(source, done);
      }
    }
  });

  function fallbackCopy(source, done) {
    if (source.select) { source.select(); }
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (elt && elt.getAttribute && elt.getAttribute("data-open-dialog-after")) {
      openDialog(elt.getAttribute("data-open-dialog-after"));
    }
    var refocus = document.querySelector("[data-refocus]");
    if (refocus) {
      if (refocus.disabled) {
        var other = refocus.parentElement.querySelector("button:not([disabled])");
        if (other) refocus = other;
      }
      refocus.removeAttribute("data-refocus");
      refocus.focus();
    }
  });

  document.addEventListener("jh:saved", function (event) {
    document.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
    if (event.detail && event.detail.value) toast(event.detail.value);
  });

  // Drag and drop ordering: rows of a tbody[data-sortable]; the test-result row moves along.
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var row = event.target.closest && event.target.closest("tbody[data-sortable] > tr[data-id]");
    if (!row) return;
    dragged = row;
    row.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.getAttribute("data-id"));
  });
  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var row = event.target.closest && event.target.closest("tbody[data-sortable] > tr[data-id]");
    if (!row || row === dragged) return;
    event.preventDefault();
    var rect = row.getBoundingClientRect();
    var after = event.clientY > rect.top + rect.height / 2;
    var anchor = after ? (row.nextElementSibling && !row.nextElementSibling.hasAttribute("data-id") ? row.nextElementSibling : row) : row;
    var companion = dragged.nextElementSibling && !dragged.nextElementSibling.hasAttribute("data-id") ? dragged.nextElementSibling : null;
    if (after) anchor.after(dragged); else anchor.before(dragged);
    if (companion) dragged.after(companion);
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    var form = dragged.closest("form");
    dragged = null;
    if (form && window.htmx) window.htmx.trigger(form, "jh:reorder");
  });
})();

// Confirmations in the page (never the browser's own confirm box): an element with data-confirm="…" asks in
// the #confirm-dialog first. htmx requests wait in htmx:confirm; plain forms are submitted again
// once confirmed. Works under the strict Content-Security-Policy (no inline script).
(function () {
  "use strict";
  var pending = null;

  function ask(text, proceed) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog) return;
    document.getElementById("confirm-text").textContent = text;
    pending = proceed;
    dialog.showModal();
    document.getElementById("confirm-no").focus();
  }

  document.addEventListener("click", function (event) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || !dialog.open) return;
    if (event.target.id === "confirm-yes") {
      var run = pending;
      pending = null;
      dialog.close();
      if (run) run();
    } else if (event.target.id === "confirm-no") {
      pending = null;
      dialog.close();
    }
  });

  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var text = elt && elt.getAttribute && elt.getAttribute("data-confirm");
    if (!text) return;
    event.preventDefault();
    ask(text, function () { event.detail.issueRequest(true); });
  });

  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || !button.hasAttribute("data-confirm") || button.hasAttribute("hx-post")) return;
    var form = event.target;
    if (form.getAttribute("data-confirmed") === "yes") { form.removeAttribute("data-confirmed"); return; }
    event.preventDefault();
    ask(button.getAttribute("data-confirm"), function () {
      form.setAttribute("data-confirmed", "yes");
      form.requestSubmit(button);
    });
  });
})();

(function () {
  // The connection dialog: show the fields of the chosen authentication kind.
  function showAuthFields(select) {
    var form = select.closest("form");
    if (!form) { return; }
    form.querySelectorAll("[data-auth-for]").forEach(function (group) {
      var kinds = group.getAttribute("data-auth-for").split(" ");
      group.hidden = kinds.indexOf(select.value) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-auth-select]")) { showAuthFields(event.target); }
  });
  document.addEventListener("htmx:afterSwap", function () {
    document.querySelectorAll("[data-auth-select]").forEach(showAuthFields);
  });
})();
