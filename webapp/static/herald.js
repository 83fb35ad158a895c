// Herald's page behaviour, kept out of the HTML so that the Content-Security-Policy can forbid
// inline script. A form with data-confirm asks before it is sent.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
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
