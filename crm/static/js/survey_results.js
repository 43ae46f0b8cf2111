// Survey results: people needed by occupation (Chart.js).
// The numbers come from the canvas's data-chart attribute (CSP: no inline code); the tables
// on the page show the same figures without JavaScript.
(function () {
  "use strict";
  var canvas = document.getElementById("survey-chart");
  if (!canvas || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(canvas.getAttribute("data-chart"));
  var colours = ["#0b5ed7", "#198754", "#6f42c1", "#6c757d"];
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
      scales: { x: { stacked: false }, y: { stacked: false, beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
})();
