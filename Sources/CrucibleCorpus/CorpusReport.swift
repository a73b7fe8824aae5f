import CrucibleWire
/// `crucible corpus report`: one self-contained HTML page (no network: data, styles and the
/// drawing script are inline) with five charts (pass rate per kind, sessions by attempts,
/// top failing rules, failing rules over time, calls per tool) and tables (per kind, tools,
/// result fields with likely tool bugs flagged, tool sequences, data flows, feedback, gates). The charts are SVG drawn by the
/// page's script from the embedded data; each chart records how many marks it drew in
/// `data-marks`, and the body gets `data-charts-drawn`, which the test reads after
/// rendering the page in headless Chromium.
public enum CorpusReport {
    public static func html(_ stats: CorpusStats, corpusPath: String, generatedAt: String) -> String {
        let kinds = stats.kinds.keys.sorted()
        let passRate: JSONValue = .array(kinds.map { kind in
            let figures = stats.kinds[kind]!
            return ["label": .string(Self.label(kind: kind)), "value": .double(figures.rate(figures.passedWithinBudget)),
                    "first": .double(figures.rate(figures.passedFirstAttempt))]
        })
        let histogram: JSONValue = .array(stats.overall.attemptsHistogram.keys.sorted().map {
            ["label": .string("\($0)"), "value": .int(stats.overall.attemptsHistogram[$0]!)]
        })
        let topRules = stats.overall.topRules(10)
        let rules: JSONValue = .array(topRules.map { ["label": .string($0.rule), "value": .int($0.count)] })
        let days = Set(stats.rulesByDay.values.flatMap(\.keys)).sorted()
        let overTime: JSONValue = [
            "days": .array(days.map { .string($0) }),
            "series": .array(topRules.prefix(5).map { rule in
                ["label": .string(rule.rule), "values": .array(days.map { .int(stats.rulesByDay[rule.rule]?[$0] ?? 0) })]
            }),
        ]
        let tools = stats.tools ?? ToolAnalytics()
        let toolList = tools.tools.values.sorted { ($1.calls, $0.name) < ($0.calls, $1.name) }
        let toolCalls: JSONValue = .array(toolList.prefix(12).map { ["label": .string($0.name), "value": .int($0.calls)] })
        let data: JSONValue = ["pass_rate": passRate, "histogram": histogram, "rules": rules, "over_time": overTime,
                               "tool_calls": toolCalls]
        // `</` inside a script element would end it early.
        let embedded = data.jsonText.replacingOccurrences(of: "</", with: "<\\/")

        // The overall row first, then one per kind; attempts recorded without a kind are a
        // kind of their own, "(no kind)", never a second "overall".
        var kindRows = ""
        let rows = [("overall", stats.overall, " class=\"overall\"")] + kinds.map { (Self.label(kind: $0), stats.kinds[$0]!, "") }
        for (label, figures, attributes) in rows {
            kindRows += "<tr\(attributes)><td>\(escape(label))</td><td>\(figures.sessions)</td><td>\(figures.attempts)</td>"
                + "<td>\(figures.passedFirstAttempt)</td><td>\(figures.passedWithinBudget)</td>"
                + "<td>\(String(format: "%.2f", figures.meanAttempts))</td><td>\(figures.positives)</td><td>\(figures.pairs)</td></tr>\n"
        }
        var gateRows = ""
        if let export = stats.latestExport {
            for gate in export.report["gates"]?.arrayValue ?? [] {
                let removed = gate["removed"]
                gateRows += "<tr><td>\(escape(gate["gate"]?.stringValue ?? "?"))</td><td>\(removed?["positive"]?.intValue ?? 0)</td>"
                    + "<td>\(removed?["pair"]?.intValue ?? 0)</td><td>\(removed?["negative"]?.intValue ?? 0)</td></tr>\n"
            }
        }
        let toolsSection = Self.toolsSection(tools, toolList, feedback: stats.feedback)
        let gatesSection = gateRows.isEmpty
            ? "<p>No export yet: <code>crucible corpus export</code> runs the gates and records what each removed.</p>"
            : "<p>Latest export: \(escape(stats.latestExport!.format)), \(escape(stats.latestExport!.createdAt)).</p>"
                + "<table><tr><th>gate</th><th>positives removed</th><th>pairs removed</th><th>failures removed</th></tr>\n\(gateRows)</table>"
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Crucible corpus report</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#1d2330}
            h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em}
            table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:3px 8px;text-align:right}
            td:first-child,th:first-child{text-align:left}th{background:#eef}tr.overall td{font-weight:600;background:#f6f7fb}
            tr.flagged td{background:#fde8e4;font-weight:600}h3{font-size:1em;margin-top:1.2em}
            .grid{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
            svg{background:#fafbff;border:1px solid #dde}svg text{font-size:11px;fill:#333}
            svg .axis-title{font-size:12px;font-weight:600}svg .grid{stroke:#e3e5ee}svg .value{font-size:10px}
            </style></head>
            <body data-charts-drawn="0">
            <h1>Crucible corpus report</h1>
            <p>Corpus <code>\(escape(corpusPath))</code>, generated \(escape(generatedAt)).
            \(stats.overall.sessions) sessions, \(stats.overall.attempts) attempts.</p>
            <div class="grid">
            <figure><figcaption>Pass rate per kind (sessions passed within budget; dark: at the first attempt)</figcaption><svg data-chart="pass_rate" width="460" height="280"></svg></figure>
            <figure><figcaption>Sessions by number of attempts</figcaption><svg data-chart="histogram" width="460" height="280"></svg></figure>
            <figure><figcaption>Top failing rules (failing attempts that broke each rule)</figcaption><svg data-chart="rules" width="460" height="280"></svg></figure>
            <figure><figcaption>Failing rules over time (failing attempts per day, UTC)</figcaption><svg data-chart="over_time" width="460" height="280"></svg></figure>
            <figure><figcaption>Tool calls per tool (calls the recorded code made)</figcaption><svg data-chart="tool_calls" width="460" height="280"></svg></figure>
            </div>
            <h2>Per kind</h2>
            <table><tr><th>kind</th><th>sessions</th><th>attempts</th><th>pass@1</th><th>pass within budget</th><th>mean attempts</th><th>positives</th><th>pairs</th></tr>
            \(kindRows)</table>
            \(toolsSection)
            <h2>Quality gates</h2>
            \(gatesSection)
            <script type="application/json" id="data">\(embedded)</script>
            <script>
            \(script)
            </script>
            </body></html>
            """
    }

    /// Tools (calls, outcomes, latency), result fields (read and null rates, likely tool bugs
    /// flagged), tool sequences, data flows and feedback, as tables.
    static func toolsSection(_ tools: ToolAnalytics, _ list: [ToolAnalytics.Tool], feedback: [String: Int]) -> String {
        func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
        var html = "<h2>Tools</h2>\n"
        if list.isEmpty {
            html += "<p>No tool calls recorded.</p>\n"
        } else {
            html += "<table id=\"tools\"><tr><th>tool</th><th>calls</th><th>ok</th><th>errors</th><th>error rate</th>"
                + "<th>latency p50 (ms)</th><th>latency p95 (ms)</th><th>result p50 (bytes)</th></tr>\n"
            for tool in list {
                let errors = tool.outcomes.filter { $0.key != "ok" }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                html += "<tr><td>\(escape(tool.name))</td><td>\(tool.calls)</td><td>\(tool.outcomes["ok"] ?? 0)</td>"
                    + "<td>\(escape(errors.joined(separator: ", ")))</td><td>\(percent(tool.errorRate))</td>"
                    + String(format: "<td>%.1f</td><td>%.1f</td>", tool.latencyP50MS, tool.latencyP95MS)
                    + "<td>\(tool.resultBytesP50)</td></tr>\n"
            }
            html += "</table>\n<h3>Result fields: how often code reads them, how often they are null</h3>\n"
            html += "<table id=\"fields\"><tr><th>tool</th><th>field</th><th>calls</th><th>read rate</th><th>null rate</th><th></th></tr>\n"
            for tool in list {
                let ok = max(tool.outcomes["ok"] ?? 0, 1)
                for field in tool.fields.values.sorted(by: { $0.path < $1.path }) {
                    let flagged = field.nulls == field.occurrences && field.calls >= ToolAnalytics.minimumCallsForFlag
                    html += "<tr\(flagged ? " class=\"flagged\"" : "")><td>\(escape(tool.name))</td><td>\(escape(field.path))</td>"
                        + "<td>\(field.calls)</td><td>\(percent(Double(field.reads) / Double(ok)))</td>"
                        + "<td>\(percent(field.nullRate))</td><td>\(flagged ? "likely tool bug: always null" : "")</td></tr>\n"
                }
            }
            html += "</table>\n"
        }
        if !tools.bigrams.isEmpty {
            html += "<h3>Tool sequences (one call right after another, in one execution)</h3>\n<table id=\"sequences\"><tr><th>call</th><th>then</th><th>times</th></tr>\n"
            for bigram in tools.bigrams.prefix(20) {
                html += "<tr><td>\(escape(bigram.from))</td><td>\(escape(bigram.to))</td><td>\(bigram.count)</td></tr>\n"
            }
            html += "</table>\n"
        }
        if !tools.flows.isEmpty {
            html += "<h3>Data flows (a result value passed on as another call's argument)</h3>\n<table id=\"flows\"><tr><th>from result field</th><th>into argument</th><th>times</th></tr>\n"
            for flow in tools.flows.prefix(20) {
                html += "<tr><td>\(escape(flow.fromTool)).\(escape(flow.fromPath))</td><td>\(escape(flow.toTool))(\(escape(flow.argument)))</td><td>\(flow.count)</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Feedback</h2>\n"
        if feedback.isEmpty {
            html += "<p>No feedback yet (<code>feedback</code> in serve and MCP).</p>\n"
        } else {
            html += "<table id=\"feedback\"><tr><th>verdict</th><th>attempts</th></tr>\n"
            for verdict in Verdict.allCases {
                html += "<tr><td>\(verdict.rawValue)</td><td>\(feedback[verdict.rawValue] ?? 0)</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html
    }

    /// A kind as the page names it.
    static func label(kind: String) -> String { kind.isEmpty ? "(no kind)" : kind }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Draws every chart from the embedded data; plain DOM and SVG, no library. Every chart has
    /// both axes with ticks, tick labels with their unit, and a title on each axis; bars carry
    /// their value.
    static let script = #"""
        (function () {
          var data = JSON.parse(document.getElementById("data").textContent);
          var NS = "http://www.w3.org/2000/svg";
          var colors = ["#3b6fd8", "#d8563b", "#3bb273", "#a33bd8", "#d8b53b"];
          var axes = {
            pass_rate: {x: "kind", y: "sessions passed (%)"},
            histogram: {x: "attempts per session", y: "sessions"},
            rules: {x: "rule", y: "failing attempts"},
            tool_calls: {x: "tool", y: "calls"},
            over_time: {x: "day (UTC)", y: "failing attempts per day"}
          };
          function el(svg, name, attrs, text) {
            var node = document.createElementNS(NS, name);
            for (var key in attrs) node.setAttribute(key, attrs[key]);
            if (text !== undefined) node.textContent = text;
            svg.appendChild(node);
            return node;
          }
          function frame(svg) {
            var w = +svg.getAttribute("width"), h = +svg.getAttribute("height");
            return {w: w, h: h, left: 58, right: w - 12, top: 32, bottom: h - 56};
          }
          // Round tick steps (1, 2, 5 x 10^n) up to at least `max`; the top tick is the scale.
          function ticks(max, percent) {
            if (percent) return [0, 0.25, 0.5, 0.75, 1];
            if (max <= 0) return [0, 1];
            var raw = max / 4, power = Math.pow(10, Math.floor(Math.log10(raw))), step = power;
            [1, 2, 5, 10].some(function (m) { step = m * power; return step >= raw; });
            step = Math.max(1, step);
            var list = [];
            for (var v = 0; v < max + step; v += step) list.push(v);
            return list;
          }
          // Axes, grid, tick labels and axis titles; returns the scale's top value.
          function drawAxes(svg, f, name, max, percent) {
            var list = ticks(max, percent), top = list[list.length - 1];
            list.forEach(function (v) {
              var y = f.bottom - (v / top) * (f.bottom - f.top);
              el(svg, "line", {x1: f.left, y1: y, x2: f.right, y2: y, "class": "grid"});
              el(svg, "line", {x1: f.left - 4, y1: y, x2: f.left, y2: y, stroke: "#555"});
              el(svg, "text", {x: f.left - 7, y: y + 4, "text-anchor": "end", "class": "tick"}, percent ? Math.round(v * 100) + "%" : String(v));
            });
            el(svg, "line", {x1: f.left, y1: f.top, x2: f.left, y2: f.bottom, stroke: "#555"});
            el(svg, "line", {x1: f.left, y1: f.bottom, x2: f.right, y2: f.bottom, stroke: "#555"});
            el(svg, "text", {x: (f.left + f.right) / 2, y: f.h - 8, "text-anchor": "middle", "class": "axis-title"}, axes[name].x);
            var cy = (f.top + f.bottom) / 2;
            el(svg, "text", {x: 14, y: cy, "text-anchor": "middle", transform: "rotate(-90 14 " + cy + ")", "class": "axis-title"}, axes[name].y);
            return top;
          }
          function empty(svg, f) { el(svg, "text", {x: f.left + 10, y: f.top + 20}, "no data"); return 0; }
          function bars(svg, name, items, max, percent, extra) {
            var f = frame(svg), marks = 0;
            var top = drawAxes(svg, f, name, max, percent);
            if (!items.length) return empty(svg, f);
            var step = (f.right - f.left) / items.length, width = Math.max(2, step * 0.7);
            items.forEach(function (item, i) {
              var height = top > 0 ? (item.value / top) * (f.bottom - f.top) : 0;
              var x = f.left + i * step + (step - width) / 2;
              el(svg, "rect", {x: x, y: f.bottom - height, width: width, height: height, fill: colors[0], "class": "mark"});
              marks++;
              if (extra) { extra(item, x, width, f, top); }
              el(svg, "text", {x: x + width / 2, y: f.bottom - height - 3, "text-anchor": "middle", "class": "value"},
                 percent ? Math.round(item.value * 100) + "%" : String(item.value));
              el(svg, "text", {x: x + width / 2, y: f.bottom + 15, "text-anchor": "middle", "class": "tick"},
                 item.label.length > 14 ? item.label.slice(0, 13) + "…" : item.label);
            });
            return marks;
          }
          var drawn = 0;
          document.querySelectorAll("svg[data-chart]").forEach(function (svg) {
            var name = svg.getAttribute("data-chart"), marks = 0;
            if (name === "pass_rate") {
              marks = bars(svg, name, data.pass_rate, 1, true, function (item, x, width, f, top) {
                var height = item.first / top * (f.bottom - f.top);
                el(svg, "rect", {x: x + width / 4, y: f.bottom - height, width: width / 2, height: height, fill: "#1d3b7a"});
              });
              var f0 = frame(svg);
              el(svg, "rect", {x: f0.left + 6, y: 6, width: 10, height: 10, fill: colors[0]});
              el(svg, "text", {x: f0.left + 20, y: 15}, "within budget");
              el(svg, "rect", {x: f0.left + 110, y: 6, width: 10, height: 10, fill: "#1d3b7a"});
              el(svg, "text", {x: f0.left + 124, y: 15}, "first attempt");
            } else if (name === "histogram" || name === "rules" || name === "tool_calls") {
              var items = data[name], max = 0;
              items.forEach(function (item) { max = Math.max(max, item.value); });
              marks = bars(svg, name, items, max, false);
            } else if (name === "over_time") {
              var f = frame(svg), days = data.over_time.days, series = data.over_time.series, max = 0;
              series.forEach(function (s) { s.values.forEach(function (v) { max = Math.max(max, v); }); });
              var top = drawAxes(svg, f, name, max, false);
              if (!days.length || !series.length) { marks = empty(svg, f); }
              series.forEach(function (s, k) {
                var points = s.values.map(function (v, i) {
                  var x = f.left + (days.length > 1 ? i * (f.right - f.left) / (days.length - 1) : (f.right - f.left) / 2);
                  var y = f.bottom - (top > 0 ? v / top : 0) * (f.bottom - f.top);
                  return x.toFixed(1) + "," + y.toFixed(1);
                });
                el(svg, "polyline", {points: points.join(" "), fill: "none", stroke: colors[k % colors.length], "stroke-width": 2, "class": "mark"});
                points.forEach(function (p) { var xy = p.split(","); el(svg, "circle", {cx: xy[0], cy: xy[1], r: 3, fill: colors[k % colors.length]}); });
                el(svg, "text", {x: f.left + 5 + k * 85, y: 15, fill: colors[k % colors.length]}, s.label);
                marks++;
              });
              if (days.length === 1) {
                el(svg, "text", {x: (f.left + f.right) / 2, y: f.bottom + 15, "text-anchor": "middle", "class": "tick"}, days[0]);
              } else if (days.length) {
                el(svg, "text", {x: f.left, y: f.bottom + 15, "class": "tick"}, days[0]);
                if (days.length > 1) el(svg, "text", {x: f.right, y: f.bottom + 15, "text-anchor": "end", "class": "tick"}, days[days.length - 1]);
              }
            }
            svg.setAttribute("data-marks", String(marks));
            drawn++;
          });
          document.body.setAttribute("data-charts-drawn", String(drawn));
        })();
        """#
}
