// Bar charts of the report pages (inquiry report, survey results), drawn with Chart.js.
// Every <canvas data-chart='{"labels": [...], "series": [{"label", "data"}]}'> gets one; the
// numbers come from that attribute (CSP: no inline code), data-stacked="true" stacks the
// series. The tables on the pages show the same figures without JavaScript.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var colours = ["#0b5ed7", "#198754", "#6f42c1", "#6c757d"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = JSON.parse(canvas.getAttribute("data-chart"));
    var stacked = canvas.getAttribute("data-stacked") === "true";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: colours[i % colours.length] };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  });
})();
