// Follow a replica's log (compute/_log.html): keep its end in view after each refresh, unless the
// reader scrolled up to read.
(() => {
  let offset = null;
  const log = () => document.querySelector("#replica-log pre");
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const pre = log();
    if (event.detail.target.id !== "replica-log" || !pre) return;
    offset = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24 ? null : pre.scrollTop;
  });
  const follow = () => { const pre = log(); if (pre) pre.scrollTop = offset ?? pre.scrollHeight; };
  document.body.addEventListener("htmx:afterSettle", (event) => { if (event.detail.target.id === "replica-log") follow(); });
  follow();
})();
