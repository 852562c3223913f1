// A tuning job's charts: the objective of each trial (and the best so far), and each parameter
// against the objective. Drawn from the #trials-data the polled status carries, and updated in
// place when it is swapped, so the charts keep their size and the reader's place.
(() => {
  const palette = { done: "#4f46e5", running: "#f59e0b", stopped: "#9ca3af", best: "#16a34a" };
  const charts = new Map();

  const read = () => JSON.parse(document.getElementById("trials-data")?.textContent || "null");
  const scored = (data) => data.trials.filter((t) => t.objective !== null);
  const colour = (t) => (t.stoppedEarly ? palette.stopped : t.state === "SUCCEEDED" ? palette.done : palette.running);
  const better = (data) => (data.goal === "MINIMIZE" ? Math.min : Math.max);

  function bestSoFar(data) {
    let best = null;
    return data.trials.map((t) => {
      if (t.objective !== null && t.state === "SUCCEEDED" && !t.stoppedEarly) {
        best = best === null ? t.objective : better(data)(best, t.objective);
      }
      return { x: t.id, y: best };
    });
  }

  function objectiveConfig(data) {
    const points = scored(data);
    return {
      type: "scatter",
      data: {
        datasets: [
          { label: data.tag, data: points.map((t) => ({ x: t.id, y: t.objective })), pointBackgroundColor: points.map(colour), pointRadius: 5 },
          { label: "best so far", data: bestSoFar(data), type: "line", stepped: true, borderColor: palette.best, pointRadius: 0, spanGaps: true },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { title: { display: true, text: "trial" }, ticks: { precision: 0 } },
          y: { title: { display: true, text: data.tag } },
        },
      },
    };
  }

  function paramConfig(data, param) {
    const points = scored(data);
    const x = param.categories
      ? { type: "category", labels: param.categories, offset: true }
      : { type: param.log ? "logarithmic" : "linear" };
    return {
      type: "scatter",
      data: {
        datasets: [{ label: `${data.tag} by ${param.name}`, data: points.map((t) => ({ x: t.params[param.name], y: t.objective })), pointBackgroundColor: points.map(colour), pointRadius: 5 }],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { ...x, title: { display: true, text: param.name } }, y: { title: { display: true, text: data.tag } } },
      },
    };
  }

  function draw() {
    const data = read();
    if (!data) return;
    const configs = [["objective", objectiveConfig(data)], ...data.params.map((p) => [p.name, paramConfig(data, p)])];
    for (const [name, config] of configs) {
      const canvas = document.querySelector(`canvas[data-trial-chart="${CSS.escape(name)}"]`);
      if (!canvas) continue;
      const chart = charts.get(name);
      if (chart) {
        chart.data = config.data;
        chart.update("none");
      } else {
        charts.set(name, new Chart(canvas, config));
      }
    }
  }

  document.body.addEventListener("htmx:afterSettle", draw);
  draw();
})();
