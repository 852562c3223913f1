// Banners that report an action ("Notebook 'x' created", "Job 'y' is being cancelled") describe a
// moment: they go when the page's status next refreshes itself (an htmx swap) or after a while,
// so they never contradict the state shown beside them. Errors and warnings stay until closed.
(() => {
  const LIFETIME_MS = 8000;
  const transient = () => document.querySelectorAll(".alert[data-transient]");
  const dismiss = (alert) => bootstrap.Alert.getOrCreateInstance(alert).close();
  const shown = Date.now();
  setTimeout(() => transient().forEach(dismiss), LIFETIME_MS);
  document.addEventListener("htmx:afterSwap", () => {
    if (Date.now() - shown > 1000) transient().forEach(dismiss); // not the swap that loaded with the page
  });
})();
