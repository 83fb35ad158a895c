// Herald's page behaviour, kept out of the HTML so that the Content-Security-Policy can forbid
// inline script. Everything here is an extra: every form works without it.
document.documentElement.classList.add("js");

// A form with data-confirm asks before it is sent (naming what it destroys); a form with
// data-once disables its buttons once sent, so a double click sends it once.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const message = form.dataset && form.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
    return;
  }
  if (form.dataset && "once" in form.dataset) {
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    // After this event: a disabled submitter would not be sent.
    setTimeout(() => form.querySelectorAll("button").forEach((b) => {
      b.disabled = true;
      b.setAttribute("aria-busy", "true");
    }), 0);
  }
});

// The first field in error takes the focus (a page with errors, or a swapped fieldset).
function focusFirstInvalid(root) {
  const field = root.querySelector("[aria-invalid='true']:not([role='group'])");
  if (field) {
    field.focus();
  }
}
document.addEventListener("DOMContentLoaded", () => focusFirstInvalid(document));
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id === "server") {  // "Test connection": its invalid settings
    focusFirstInvalid(document.getElementById("server"));
  }
});

// On a phone the tables become stacked cards (herald.css): each cell is labelled with its
// column's heading, again after htmx has swapped a part of the page.
function labelCells() {
  document.querySelectorAll("table.list").forEach((table) => {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      let column = 0;
      [...row.children].forEach((cell) => {
        if (cell.colSpan === 1 && heads[column]) {
          cell.dataset.label = heads[column];
        }
        column += cell.colSpan || 1;
      });
    });
  });
}
labelCells();
document.addEventListener("htmx:afterSettle", labelCells);
