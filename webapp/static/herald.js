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

// A search box (data-filters = a select's id) narrows that select to the options whose name
// or label holds what is typed ("kolk", "+05:30"); the first match is chosen when the choice
// is filtered out, and Enter confirms it (the focus goes to the list) instead of sending.
function filterOptions(box) {
  const select = document.getElementById(box.dataset.filters);
  if (!select) {
    return;
  }
  const words = box.value.trim().toLowerCase().replace(/\s+/g, "_");
  const matches = [...select.options].filter((option) => {
    const found = !words || option.value.toLowerCase().includes(words) ||
      option.text.toLowerCase().replace(/\s+/g, "_").includes(words);
    option.hidden = !found;
    return found;
  });
  const status = document.getElementById(box.getAttribute("aria-describedby"));
  if (status) {
    status.textContent = !words ? "" : matches.length === 0 ? `No zone matches “${box.value}”.`
      : `${matches.length} zone${matches.length === 1 ? "" : "s"} match${matches.length === 1 ? "es" : ""}.`;
  }
  if (matches.length && select.selectedOptions[0] && select.selectedOptions[0].hidden) {
    select.value = matches[0].value;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }
}
document.addEventListener("input", (event) => {
  if (event.target.dataset && event.target.dataset.filters) {
    event.stopPropagation();  // not a change of the form's values (no preview refresh)
    filterOptions(event.target);
  }
}, true);
document.addEventListener("keydown", (event) => {
  const box = event.target;
  if (event.key === "Enter" && box.dataset && box.dataset.filters) {
    event.preventDefault();
    const select = document.getElementById(box.dataset.filters);
    if (select) {
      select.focus();
    }
  }
});

// A choice made before htmx was ready (a slow page, a form the browser restored) still brings
// its fields: once htmx has processed the page, each select it listens to whose choice is not
// the one the page was sent with tells it, once.
if (window.htmx) {
  htmx.onLoad((root) => {
    if (root !== document.body) {
      return;
    }
    document.querySelectorAll("select[hx-trigger='change']").forEach((select) => {
      const sent = [...select.options].findIndex((option) => option.defaultSelected);
      if (select.selectedIndex !== Math.max(sent, 0)) {
        htmx.trigger(select, "change");
      }
    });
  });
}

// What is typed or ticked in a part of the form while htmx fetches its replacement (the
// fields of a report type, a transport's server settings) stays: the reply was rendered from
// the values sent, so each field changed since is set again in the part that replaces it.
function fieldValues(root) {
  const values = new Map();
  root.querySelectorAll("input[name], select[name], textarea[name]").forEach((field) => {
    const key = field.name;
    if (field.type === "checkbox" || field.type === "radio") {
      values.set(key, (values.get(key) || "") + (field.checked ? `\n${field.value}` : ""));
    } else if (!values.has(key)) {
      values.set(key, field.value);
    }
  });
  return values;
}
function setField(root, name, value) {
  root.querySelectorAll("input[name], select[name], textarea[name]").forEach((field) => {
    if (field.name !== name) {
      return;
    }
    if (field.type === "checkbox" || field.type === "radio") {
      field.checked = value.split("\n").includes(field.value);
    } else {
      field.value = value;
    }
  });
}
const sentValues = new WeakMap();  // a request → the values in its target when it was sent
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail.target;
  if (target && target.id) {
    sentValues.set(event.detail.xhr, { id: target.id, values: fieldValues(target) });
  }
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const sent = sentValues.get(event.detail.xhr);
  const target = sent && document.getElementById(sent.id);
  if (target) {
    sent.changed = [...fieldValues(target)].filter(([key, value]) => sent.values.get(key) !== value);
  }
});
document.addEventListener("htmx:afterSwap", (event) => {
  const sent = sentValues.get(event.detail.xhr);
  const swapped = sent && sent.changed && document.getElementById(sent.id);
  if (swapped) {
    sent.changed.forEach(([name, value]) => setField(swapped, name, value));
  }
});
