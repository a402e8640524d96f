/* why502 watch's live page: polls /api/state and builds the DOM with textContent only (log
   content is hostile: no HTML parsing of data, ever). Served under a CSP that allows this script
   and uPlot by their SHA-256 and connect-src 'self'. */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var COLOURS = ["#b00020", "#d9730d", "#6a1b9a", "#0550ae", "#2e7d32", "#8d6e63", "#00838f",
                 "#c2185b", "#5f6b7a"];
  var charts = {};
  var polls = 0;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
  }

  function facts(rows) {
    var dl = el("dl", null, "facts");
    rows.forEach(function (row) {
      if (row[1] === null || row[1] === undefined || row[1] === "") { return; }
      dl.appendChild(el("dt", row[0]));
      var dd = el("dd", row[1]);
      if (row[2]) { dd.className = row[2]; }
      dl.appendChild(dd);
    });
    return dl;
  }

  function renderOpen(inc) {
    var box = document.getElementById("open");
    clear(box);
    document.body.setAttribute("data-state", inc ? "incident" : "ok");
    if (!inc) {
      box.appendChild(el("p", "No open incident.", "ok"));
      box.setAttribute("data-incident", "");
      box.removeAttribute("data-cause");
      return;
    }
    box.setAttribute("data-incident", inc.id);
    box.setAttribute("data-cause", inc.cause);
    box.appendChild(el("p", inc.cause, "cause"));
    box.appendChild(el("h3", inc.title || (inc.diagnosing ? "diagnosing…" : "cause not found")));
    box.appendChild(facts([
      ["incident", inc.id], ["opened", inc.opened],
      ["confidence", inc.confidence ? Math.round(inc.confidence * 100) + " %" : null],
      ["upstream", inc.upstream], ["summary", inc.summary],
      ["evidence", inc.evidence, "evidence"], ["fix", inc.fix, "fix"],
      ["why opened", (inc.trigger || []).join("; ")],
      ["5xx", inc.errors_5xx + " of " + inc.requests + " requests; " + inc.failed_attempts +
        " failed upstream attempts"],
      ["symptoms", (inc.symptoms || []).join(", ")]
    ]));
  }

  function renderResolved(list) {
    var box = document.getElementById("resolved");
    clear(box);
    box.setAttribute("data-count", String(list.length));
    if (!list.length) { box.appendChild(el("p", "None yet.", "muted")); return; }
    var table = el("table");
    var head = el("tr");
    ["resolved", "incident", "cause", "upstream", "fix", "report"].forEach(function (h) {
      head.appendChild(el("th", h));
    });
    table.appendChild(head);
    list.forEach(function (inc) {
      var tr = el("tr");
      tr.setAttribute("data-incident", inc.id);
      tr.setAttribute("data-cause", inc.cause);
      [inc.resolved, inc.id, inc.cause + (inc.title ? ": " + inc.title : ""), inc.upstream || "-",
       inc.fix || "-"].forEach(function (v) { tr.appendChild(el("td", v)); });
      var td = el("td");
      if (inc.report_url) {
        var a = el("a", "report");
        a.setAttribute("href", inc.report_url);
        td.appendChild(a);
      } else {
        td.appendChild(el("span", "-", "muted"));
      }
      tr.appendChild(td);
      table.appendChild(tr);
    });
    box.appendChild(table);
  }

  function renderHealth(health) {
    var box = document.getElementById("health");
    clear(box);
    if (!health.enabled) {
      box.appendChild(el("p", "Health checks are off (why502 watch --probe-interval SECONDS).",
                         "muted"));
      return;
    }
    if (!health.targets.length) { box.appendChild(el("p", "No target probed yet.", "muted")); return; }
    var table = el("table");
    health.targets.forEach(function (t) {
      var tr = el("tr");
      tr.setAttribute("data-target", t.target);
      tr.setAttribute("data-up", t.up ? "1" : "0");
      tr.appendChild(el("td", t.target));
      tr.appendChild(el("td", t.up ? "up" : "DOWN", t.up ? "ok" : "down"));
      tr.appendChild(el("td", t.probe_seconds === null ? "" :
                        Math.round(t.probe_seconds * 1000) + " ms", "muted"));
      table.appendChild(tr);
    });
    box.appendChild(table);
  }

  function renderUpstreams(rows) {
    var table = document.getElementById("upstreams");
    clear(table);
    var head = el("tr");
    ["upstream (last 10 s)", "requests/s", "5xx/s"].forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.setAttribute("data-upstream", r.upstream);
      tr.appendChild(el("td", r.upstream));
      tr.appendChild(el("td", r.requests_per_s.toFixed(1)));
      tr.appendChild(el("td", r.errors_per_s.toFixed(1), r.errors_per_s > 0 ? "down" : ""));
      table.appendChild(tr);
    });
  }

  // the report's colours for the usual codes (reporters/html.py STATUS_COLOURS), 2xx green
  var STATUS = {"500": "#8d6e63", "502": "#b00020", "503": "#6a1b9a", "504": "#d9730d"};

  function statusColour(code, i) {
    if (STATUS[code]) { return STATUS[code]; }
    if (code.charAt(0) === "2") { return "#2e7d32"; }
    if (code.charAt(0) === "3") { return "#0550ae"; }
    return COLOURS[(i + 3) % COLOURS.length];
  }

  // lines: [{label, values, stroke, dash}] in drawing order
  function chart(id, t, lines) {
    var box = document.getElementById(id);
    var key = lines.map(function (l) { return l.label; }).join("\u0000");
    var data = [t].concat(lines.map(function (l) { return l.values; }));
    box.setAttribute("data-points", String(t.length));
    box.setAttribute("data-series", String(lines.length));
    var c = charts[id];
    if (c && c.key === key) { c.plot.setData(data); return; }
    if (c) { c.plot.destroy(); }
    if (typeof uPlot === "undefined") { return; }
    var series = [{}].concat(lines.map(function (l) {
      return {label: l.label, stroke: l.stroke, width: 2, dash: l.dash, points: {show: false}};
    }));
    var opts = {width: Math.max(320, box.clientWidth || 900), height: 220, series: series,
                scales: {x: {time: true}},
                axes: [{incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600]}, {label: "per second"}]};
    charts[id] = {key: key, plot: new uPlot(opts, data, box)};
  }

  function renderCharts(s) {
    var codes = Object.keys(s.status).sort();
    var byStatus = [{label: "all requests", values: s.requests, stroke: "#9aa4b1", dash: [6, 4]}]
      .concat(codes.map(function (code, i) {
        return {label: code, values: s.status[code], stroke: statusColour(code, i)};
      }));
    chart("chart-status", s.t, byStatus);
    chart("chart-upstream", s.t, Object.keys(s.upstream_5xx).sort().map(function (u, i) {
      return {label: u, values: s.upstream_5xx[u], stroke: COLOURS[i % COLOURS.length]};
    }));
    var rate = document.getElementById("rate");
    clear(rate);
    var n = Math.min(10, s.t.length);
    function last(values) {
      var sum = 0;
      for (var i = values.length - n; i < values.length; i++) { sum += values[i]; }
      return n ? sum / n : 0;
    }
    rate.appendChild(el("span", "requests/s: " + last(s.requests).toFixed(1)));
    var err = el("span", "5xx/s: " + last(s.errors).toFixed(1), last(s.errors) > 0 ? "down" : "");
    err.setAttribute("data-errors", String(last(s.errors)));
    rate.appendChild(err);
  }

  function render(state) {
    polls += 1;
    document.body.setAttribute("data-polls", String(polls));
    document.getElementById("meta").textContent = state.instance + " · incident window " +
      state.window_seconds + " s";
    document.getElementById("updated").textContent = "updated " +
      new Date(state.now * 1000).toLocaleTimeString();
    renderOpen(state.open);
    renderCharts(state.series);
    renderUpstreams(state.upstreams);
    renderHealth(state.health);
    renderResolved(state.resolved);
  }

  function poll() {
    fetch("/api/state", {cache: "no-store", credentials: "omit"})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(render)
      .catch(function (e) {
        document.getElementById("updated").textContent = "watch not reachable (" + e.message +
          "); retrying";
        document.body.setAttribute("data-stale", "1");
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
}());
