// The notebook form: GPU count only for GPU flavors, and only the images that suit the flavor.
(() => {
  const form = document.querySelector("[data-notebook-fields]") || document;
  const image = form.querySelector("#f-image");
  const gpus = form.querySelector("#f-gpus");
  const update = () => {
    const flavor = form.querySelector("input[name=flavor]:checked");
    if (!flavor || !image) return;
    const isGpu = flavor.dataset.gpu === "1";
    form.querySelectorAll("[data-gpu-only]").forEach((el) => { el.hidden = !isGpu; });
    if (gpus) gpus.disabled = !isGpu;
    if (gpus && isGpu) gpus.max = flavor.dataset.max;  // what quota and the machine allow
    for (const option of image.options) {
      const suits = option.dataset.flavors.trim();
      option.hidden = option.disabled = Boolean(suits) && !suits.split(" ").includes(flavor.value);
    }
    if (image.selectedOptions[0]?.disabled) {
      image.value = [...image.options].find((o) => !o.disabled)?.value ?? "";
    }
    const help = form.querySelector("#f-image-help");
    if (help && image.selectedOptions[0]) help.textContent = image.selectedOptions[0].dataset.description;
  };
  form.addEventListener("change", (event) => { if (event.target.name === "flavor") update(); });
  image?.addEventListener("change", update);
  update();
})();
