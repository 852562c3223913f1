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
      // Every byte sent is not stored yet: the server still writes the object to its bucket, and
      // only its answer says whether that worked.
      const saving = () => {
        bar.style.width = "100%";
        bar.classList.add("progress-bar-striped", "progress-bar-animated");
        status.textContent = "saving…";
      };
      const done = (ok, text) => {
        bar.style.width = "100%";
        bar.classList.remove("progress-bar-striped", "progress-bar-animated");
        bar.classList.add(ok ? "bg-success" : "bg-danger");
        status.textContent = text;
        status.className = `status ${ok ? "text-success" : "text-danger"}`;
        resolve(ok);
      };
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        if (e.loaded >= e.total) return saving();
        const pct = Math.round((100 * e.loaded) / e.total);
        bar.style.width = `${pct}%`;
        status.textContent = `${pct}%`;
      };
      xhr.upload.onload = saving;
      xhr.onload = () => {
        const ok = xhr.status >= 200 && xhr.status < 300;
        done(ok, ok ? "uploaded" : `failed: ${reason(xhr)}`);
      };
      xhr.onerror = () => done(false, "failed: network error");
      xhr.send(file);
    });
  }

  // What the server said was wrong: the API's {"detail": ...} or {field: [reasons]}, else its status.
  function reason(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      const first = body.detail ?? Object.values(body).flat()[0];
      if (typeof first === "string" && first) return first;
    } catch (_) { /* not JSON: a proxy's page, say */ }
    return `${xhr.status} ${xhr.statusText}`.trim();
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
