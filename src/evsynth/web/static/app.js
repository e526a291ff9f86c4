// evsynth web screener: keyboard shortcuts (served as a static file: no inline script).
// i include, e exclude (with the chosen reason; 1-9 pick a reason and exclude), m maybe,
// b back, n next. Keys are ignored while a text field, select or button has focus with a
// modifier, so typing a note never decides a record.
(function () {
  "use strict";
  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function submitWith(id) {
    var form = document.getElementById("decide");
    var btn = document.getElementById(id);
    if (!form || !btn) { return; }
    if (form.requestSubmit) { form.requestSubmit(btn); } else { btn.click(); }
  }
  function follow(id) {
    var a = document.getElementById(id);
    if (a) { window.location.href = a.href; }
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) { return; }
    var k = ev.key;
    var reason = document.getElementById("reason");
    if (k === "i") { submitWith("btn-include"); }
    else if (k === "m") { submitWith("btn-maybe"); }
    else if (k === "e") {
      if (reason && reason.options.length > 1 && !reason.value) {
        reason.focus();  // choose a reason (arrow keys, Enter), or press a number first
      } else {
        submitWith("btn-exclude");
      }
    }
    else if (k === "b") { follow("back-link"); }
    else if (k === "n") { follow("next-link"); }
    else if (/^[1-9]$/.test(k) && reason) {
      var opt = reason.querySelector('option[data-key="' + k + '"]');
      if (opt) { reason.value = opt.value; submitWith("btn-exclude"); }
    } else { return; }
    ev.preventDefault();
  });
  var reasonSel = document.getElementById("reason");
  if (reasonSel) {
    reasonSel.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && reasonSel.value) { ev.preventDefault(); submitWith("btn-exclude"); }
    });
  }
}());
