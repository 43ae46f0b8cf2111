// Targets board: cumulative entries and exits against the target lines (Chart.js).
// The numbers come from the canvas's data-chart / data-labels attributes (CSP: no inline code).
(function () {
  "use strict";
  var canvas = document.getElementById("board-chart");
  if (!canvas || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(canvas.getAttribute("data-chart"));
  var labels = JSON.parse(canvas.getAttribute("data-labels"));
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: labels.entries, data: data.entries, borderColor: "#0b5ed7", backgroundColor: "#0b5ed7", tension: 0, pointRadius: 2 },
        { label: labels.exits, data: data.exits, borderColor: "#198754", backgroundColor: "#198754", tension: 0, pointRadius: 2 },
        { label: labels.target_entries, data: data.target_entries, borderColor: "#0b5ed7", borderDash: [6, 4], pointRadius: 0, fill: false },
        { label: labels.target_exits, data: data.target_exits, borderColor: "#198754", borderDash: [6, 4], pointRadius: 0, fill: false }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
    }
  });
})();
