// A project's queue length and GPUs in use over time (the project dashboard): one chart, the
// queue on the left axis and GPUs on the right; CPUs are in the legend, hidden until asked for.
// A minute nobody sampled is a gap in the lines, never a 0.
(() => {
  const canvas = document.getElementById("usage-chart");
  const data = JSON.parse(document.getElementById("usage-data")?.textContent || "null");
  if (!canvas || !data) return;
  const line = (label, values, colour, axis, extra = {}) => ({
    label,
    data: values,
    borderColor: colour,
    backgroundColor: colour,
    yAxisID: axis,
    stepped: true,
    pointRadius: 0,
    borderWidth: 2,
    spanGaps: false,
    ...extra,
  });
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        line("Workloads queued", data.queued, "#f59e0b", "workloads"),
        line("GPUs in use", data.gpus_in_use, "#4f46e5", "gpus"),
        line("vCPUs in use", data.cpus_in_use, "#9ca3af", "gpus", { hidden: true }),
      ],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { ticks: { maxTicksLimit: 12, autoSkip: true } },
        workloads: { position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "queued" } },
        gpus: { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: "in use" } },
      },
    },
  });
})();
