// Herald's page behaviour, kept out of the HTML so that the Content-Security-Policy can forbid
// inline script. A form with data-confirm asks before it is sent.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
