// One confirmation dialog (#confirm-dialog in base.html) for every destructive action: forms with
// data-confirm (the question), data-confirm-detail and data-confirm-action (the button's words), and
// htmx's hx-confirm, instead of the browser's window.confirm.
(() => {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog) return;
  const title = dialog.querySelector("#confirm-title");
  const detail = dialog.querySelector("[data-confirm-text]");
  const ok = dialog.querySelector("[data-confirm-ok]");
  let proceed = null;

  const ask = (question, more, action, then) => {
    title.textContent = question;
    detail.textContent = more || "";
    detail.hidden = !more;
    ok.textContent = action || "Confirm";
    proceed = then;
    bootstrap.Modal.getOrCreateInstance(dialog).show();
  };

  ok.addEventListener("click", () => {
    const then = proceed;
    proceed = null;
    bootstrap.Modal.getOrCreateInstance(dialog).hide();
    if (then) then();
  });

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (!form || form.dataset.confirmed) return;
    event.preventDefault();
    const submitter = event.submitter;
    ask(form.dataset.confirm, form.dataset.confirmDetail, form.dataset.confirmAction, () => {
      form.dataset.confirmed = "yes";
      form.requestSubmit(submitter || undefined);
    });
  });

  document.addEventListener("htmx:confirm", (event) => {
    if (!event.detail.question) return;
    event.preventDefault();
    const elt = event.detail.elt;
    ask(event.detail.question, elt.dataset.confirmDetail, elt.dataset.confirmAction, () =>
      event.detail.issueRequest(true),
    );
  });
})();
