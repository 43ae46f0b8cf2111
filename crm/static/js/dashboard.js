// Targets board: cumulative entries and exits against the target lines (Chart.js).
// The numbers come from <script type="application/json"> blocks (CSP: no inline code).
(function () {
  "use strict";
  var canvas = document.getElementById("board-chart");
  var dataNode = document.getElementById("board-data");
  if (!canvas || !dataNode || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(dataNode.textContent);
  var labels = JSON.parse(document.getElementById("board-labels").textContent);
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
