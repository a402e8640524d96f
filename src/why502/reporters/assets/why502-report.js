// why502 HTML report: draws the incident timeline with uPlot from the JSON data block.
// It reads only #why502-data (JSON.parse) and writes text via textContent / setAttribute --
// never innerHTML -- so nothing in the (hostile) log data can become markup.
(function(){
  "use strict";
  var block = document.getElementById("why502-data");
  if (!block) return;
  var data = JSON.parse(block.textContent);
  // Printing (or "save as PDF") shows the collapsed sections too.
  window.addEventListener("beforeprint", function(){
    var all = document.querySelectorAll("details");
    for (var i = 0; i < all.length; i++) all[i].open = true;
  });
  var el = document.getElementById("chart");
  var summary = document.getElementById("chart-summary");
  if (!el || !data.x.length) return;
  function fmtMinute(t){ return new Date(t*1000).toISOString().slice(0,16).replace("T"," "); }
  // Each value is a one-minute bucket drawn as a step from its minute to the next one, so the
  // x axis gets one extra point (end of the last minute) repeating the last value; the legend
  // shows "--" there because it is not a minute of its own.
  var n = data.x.length;
  var end = data.x[n - 1] + 60;
  function bucketValue(u, v, si, idx){ return idx === n || v === null ? "--" : String(v); }
  var series = [{value: function(u, v, si, idx){ return idx === n || v === null ? "--" : fmtMinute(v); }}];
  var cols = [data.x.concat([end])];
  data.series.forEach(function(s){
    series.push({label: s.status, stroke: s.colour, fill: s.colour + "33", width: 2,
                 points: {show: false}, value: bucketValue, paths: uPlot.paths.stepped({align: 1})});
    cols.push(s.values.concat([s.values[n - 1]]));
  });
  var axes = [{values: function(u, splits){
    // 24-hour wall-clock labels; the date too when the window spans more than a day.
    return splits.map(function(v){ return hi - lo > 86400 ? fmtMinute(v).slice(5) : fmtMinute(v).slice(11); });
  }}, {label: "5xx per minute"}];
  var scales = {
    x: {time: true, range: function(){ return [lo, hi]; }},
    y: {range: function(u, mn, mx){ return [0, Math.max(1, Math.ceil(mx * 1.1))]; }}
  };
  if (data.requests) {
    // All requests per minute on their own right-hand axis: was there a traffic burst?
    series.push({label: "all requests", scale: "req", stroke: "#8a94a0", dash: [5, 4], width: 1.5,
                 points: {show: false}, value: bucketValue, paths: uPlot.paths.stepped({align: 1})});
    cols.push(data.totals.concat([data.totals[n - 1]]));
    scales.req = {range: function(u, mn, mx){ return [0, Math.max(1, Math.ceil(mx * 1.1))]; }};
    axes.push({scale: "req", side: 1, label: "requests per minute", grid: {show: false}});
  }
  var lo = data.x[0], hi = end;
  data.events.forEach(function(ev){
    if (ev.t !== null) { lo = Math.min(lo, ev.t - 60); hi = Math.max(hi, ev.t + 60); }
  });
  if (hi - lo < 600) { var pad = (600 - (hi - lo)) / 2; lo -= pad; hi += pad; }  // at least 10 min
  function drawMarkers(u){
    var old = u.over.querySelectorAll(".evmark, .evbadge");
    for (var i = 0; i < old.length; i++) old[i].remove();
    // One dashed line per event; one numbered badge per cluster of events closer than a badge's
    // width (a burst of events within seconds gets "2–9", not a column of overlapping badges).
    var placed = 0;
    var clusters = [];
    data.events.forEach(function(ev){
      if (ev.t === null) return;
      var left = u.valToPos(ev.t, "x");
      var mark = document.createElement("div");
      mark.className = "evmark";
      mark.style.left = left + "px";
      mark.style.borderColor = ev.colour;
      mark.setAttribute("data-kind", ev.kind);
      mark.setAttribute("data-n", String(ev.n));
      mark.title = ev.time + "  " + ev.kind + ": " + ev.label;
      u.over.appendChild(mark);
      placed++;
      var last = clusters[clusters.length - 1];
      if (last && Math.abs(left - last.left) < 24) { last.events.push(ev); }
      else { clusters.push({left: left, events: [ev]}); }
    });
    var rows = [];  // x of the last badge in each row, so badges that would still overlap stack
    clusters.forEach(function(c){
      var first = c.events[0], lastEv = c.events[c.events.length - 1];
      var badge = document.createElement("div");
      badge.className = "evbadge";
      badge.style.left = c.left + "px";
      badge.style.background = c.events.length === 1 ? first.colour : "#444";
      badge.textContent = c.events.length === 1 ? String(first.n) : first.n + "–" + lastEv.n;
      badge.setAttribute("data-events", String(c.events.length));
      badge.title = c.events.map(function(ev){ return ev.n + ". " + ev.time + "  " + ev.kind + ": " + ev.label; }).join("\n");
      var row = 0;
      while (row < 6 && rows[row] !== undefined && Math.abs(rows[row] - c.left) < 40) row++;
      rows[row] = c.left;
      badge.style.top = (2 + row * 20) + "px";
      u.over.appendChild(badge);
    });
    el.setAttribute("data-markers", String(placed));
    el.setAttribute("data-badges", String(clusters.length));
  }
  var opts = {
    width: Math.max(320, el.clientWidth || 1000), height: 300,
    tzDate: function(ts){ return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    scales: scales,
    axes: axes,
    series: series,
    hooks: {draw: [drawMarkers]}
  };
  var plot = new uPlot(opts, cols, el);
  window.addEventListener("resize", function(){ plot.setSize({width: Math.max(320, el.clientWidth), height: 300}); });
  // A text summary written from the same data, so the numbers are readable without the canvas.
  if (summary) {
    summary.textContent = "";
    summary.className = "";
    var first = document.createElement("span");
    first.textContent = fmtMinute(data.x[0]) + " → " + fmtMinute(data.x[data.x.length - 1]) + " (" + n + (n === 1 ? " minute): " : " minutes): ");
    summary.appendChild(first);
    data.series.forEach(function(s){
      var total = 0, peak = 0, at = 0;
      s.values.forEach(function(v, i){ total += v; if (v > peak) { peak = v; at = i; } });
      var item = document.createElement("span");
      item.className = "status-total";
      item.setAttribute("data-status", s.status);
      item.setAttribute("data-total", String(total));
      item.setAttribute("data-peak", String(peak));
      item.style.color = s.colour;
      item.textContent = s.status + ": " + total + " (peak " + peak + " at " + fmtMinute(data.x[at]) + ") ";
      summary.appendChild(item);
    });
    if (data.requests) {
      var all = 0;
      data.totals.forEach(function(v){ all += v; });
      var req = document.createElement("span");
      req.className = "requests-total";
      req.setAttribute("data-total", String(all));
      req.textContent = "all requests: " + all;
      summary.appendChild(req);
    }
  }
  el.setAttribute("data-rendered", String(data.x.length));
})();
