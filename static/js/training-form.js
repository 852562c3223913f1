// The submit form: shows the fields of the chosen kind and scale tier, says what the tier means,
// keeps the job directory on the job id, and copies the googleapiclient call. The call itself is
// rendered by the server from the same fields (htmx), so it always matches what Submit sends.
(() => {
  const form = document.getElementById("job-form");
  if (!form) return;
  const tier = form.elements.scale_tier;
  const tierHelp = document.getElementById("f-tier-help");

  function showChosen() {
    const values = new FormData(form);
    for (const section of form.querySelectorAll("[data-show-when]")) {
      const [name, value] = section.dataset.showWhen.split("=");
      section.hidden = values.get(name) !== value;
    }
    tierHelp.textContent = tier.selectedOptions[0]?.dataset.description || "";
  }

  // The job directory follows the job id (…/jobs/<id>) until someone edits it.
  const jobId = form.elements.job_id;
  const jobDir = form.elements.job_dir;
  let previousId = jobId.value;
  let following = previousId !== "" && jobDir.value.endsWith(`/${previousId}`);
  jobDir.addEventListener("input", () => { following = false; });
  jobId.addEventListener("input", () => {
    // Before htmx's debounced request reads the form, so the call shows the new directory too.
    if (following) jobDir.value = jobDir.value.slice(0, jobDir.value.length - previousId.length) + jobId.value;
    previousId = jobId.value;
  });

  form.addEventListener("change", showChosen);
  showChosen();

  const copy = document.getElementById("copy-snippet");
  copy?.addEventListener("click", () => {
    navigator.clipboard.writeText(document.getElementById("snippet").innerText);
    copy.innerHTML = '<i class="bi bi-check2"></i> Copied';
    setTimeout(() => { copy.innerHTML = '<i class="bi bi-clipboard"></i> Copy'; }, 1500);
  });
})();
