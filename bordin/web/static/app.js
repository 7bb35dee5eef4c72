// Progressive enhancement only: every page works without this file.
// 1. htmx requests carry the session's CSRF token.
// 2. Charts: each <div class="chart" data-spec="ID"> is drawn from the Vega-Lite spec in
//    <script type="application/json" id="ID">, with vega-embed shipped in /static/vendor.
document.addEventListener("htmx:configRequest", function (evt) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { evt.detail.headers["X-CSRF-Token"] = meta.content; }
});
function bordinCharts(root) {
  if (typeof vegaEmbed === "undefined") { return; }
  (root || document).querySelectorAll("div.chart[data-spec]").forEach(function (el) {
    if (el.dataset.drawn) { return; }
    var src = document.getElementById(el.dataset.spec);
    if (!src) { return; }
    el.dataset.drawn = "1";
    vegaEmbed(el, JSON.parse(src.textContent), {actions: false, renderer: "svg"})
      .then(function () { el.setAttribute("data-rendered", "1"); })
      .catch(function () { el.textContent = "The chart could not be drawn; the table below has the same numbers."; });
  });
}
document.addEventListener("DOMContentLoaded", function () { bordinCharts(document); });
document.addEventListener("htmx:afterSwap", function (evt) { bordinCharts(evt.target); });
