// Draws each project's GPUs in use against its quota, per flavor, as horizontal bars.
document.querySelectorAll("canvas.quota-chart").forEach((canvas) => {
  const data = JSON.parse(document.getElementById(canvas.dataset.chartId).textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "In use", data: data.used, backgroundColor: "#4f46e5", borderRadius: 4 },
        { label: "Quota", data: data.quota, backgroundColor: "#c7d2fe", borderRadius: 4 },
      ],
    },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "GPUs" } } },
    },
  });
});
