// Drag-and-drop uploads to the storage API, one PUT per file, with a progress bar each.
(() => {
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const input = document.getElementById("file-input");
  const list = document.getElementById("uploads");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  const max = Number(zone.dataset.max);

  function upload(file) {
    const row = document.createElement("div");
    row.className = "upload small mb-2";
    row.innerHTML = `<div class="d-flex justify-content-between"><span class="name"></span><span class="status text-secondary">0%</span></div>
      <div class="progress" style="height:.4rem" role="progressbar" aria-label="Upload progress"><div class="progress-bar" style="width:0%"></div></div>`;
    row.querySelector(".name").textContent = file.name;
    list.appendChild(row);
    const status = row.querySelector(".status");
    const bar = row.querySelector(".progress-bar");
    if (file.size > max) {
      status.textContent = "too large";
      status.className = "status text-danger";
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const uri = zone.dataset.prefix + file.name;
      xhr.open("PUT", `${zone.dataset.api}?uri=${encodeURIComponent(uri)}`);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const pct = Math.round((100 * e.loaded) / e.total);
        bar.style.width = `${pct}%`;
        status.textContent = `${pct}%`;
      };
      xhr.onload = () => {
        const ok = xhr.status === 201;
        bar.style.width = "100%";
        bar.classList.add(ok ? "bg-success" : "bg-danger");
        let reason = "";
        try { reason = Object.values(JSON.parse(xhr.responseText)).flat()[0]; } catch (_) { /* not JSON */ }
        status.textContent = ok ? "uploaded" : `failed: ${reason || xhr.status}`;
        status.className = `status ${ok ? "text-success" : "text-danger"}`;
        resolve(ok);
      };
      xhr.onerror = () => { status.textContent = "failed: network error"; resolve(false); };
      xhr.send(file);
    });
  }

  async function uploadAll(files) {
    const results = await Promise.all([...files].map(upload));
    if (results.some(Boolean)) setTimeout(() => window.location.reload(), 600);
  }

  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("dragging"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("dragging"); }));
  zone.addEventListener("drop", (e) => uploadAll(e.dataTransfer.files));
  input.addEventListener("change", () => uploadAll(input.files));
})();
