import CrucibleWire
/// `crucible corpus report`: one self-contained HTML page (no network: data, styles and the
/// drawing script are inline) with four charts (pass rate per kind, sessions by attempts,
/// top failing rules, failing rules over time) and tables. The charts are SVG drawn by the
/// page's script from the embedded data; each chart records how many marks it drew in
/// `data-marks`, and the body gets `data-charts-drawn`, which the test reads after
/// rendering the page in headless Chromium.
public enum CorpusReport {
    public static func html(_ stats: CorpusStats, corpusPath: String, generatedAt: String) -> String {
        let kinds = stats.kinds.keys.sorted()
        let passRate: JSONValue = .array(kinds.map { kind in
            let figures = stats.kinds[kind]!
            return ["label": .string(kind.isEmpty ? "(no kind)" : kind), "value": .double(figures.rate(figures.passedWithinBudget)),
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
        let data: JSONValue = ["pass_rate": passRate, "histogram": histogram, "rules": rules, "over_time": overTime]
        // `</` inside a script element would end it early.
        let embedded = data.jsonText.replacingOccurrences(of: "</", with: "<\\/")

        var kindRows = ""
        for kind in [""] + kinds {
            let figures = kind.isEmpty ? stats.overall : stats.kinds[kind]!
            kindRows += "<tr><td>\(escape(kind.isEmpty ? "overall" : kind))</td><td>\(figures.sessions)</td><td>\(figures.attempts)</td>"
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
            td:first-child,th:first-child{text-align:left}th{background:#eef}
            .grid{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
            svg{background:#fafbff;border:1px solid #dde}svg text{font-size:11px;fill:#333}
            </style></head>
            <body data-charts-drawn="0">
            <h1>Crucible corpus report</h1>
            <p>Corpus <code>\(escape(corpusPath))</code>, generated \(escape(generatedAt)).
            \(stats.overall.sessions) sessions, \(stats.overall.attempts) attempts.</p>
            <div class="grid">
            <figure><figcaption>Pass rate per kind (within budget; dark: at first attempt)</figcaption><svg data-chart="pass_rate" width="460" height="260"></svg></figure>
            <figure><figcaption>Sessions by number of attempts</figcaption><svg data-chart="histogram" width="460" height="260"></svg></figure>
            <figure><figcaption>Top failing rules (failing attempts)</figcaption><svg data-chart="rules" width="460" height="260"></svg></figure>
            <figure><figcaption>Failing rules over time (per day)</figcaption><svg data-chart="over_time" width="460" height="260"></svg></figure>
            </div>
            <h2>Per kind</h2>
            <table><tr><th>kind</th><th>sessions</th><th>attempts</th><th>pass@1</th><th>pass within budget</th><th>mean attempts</th><th>positives</th><th>pairs</th></tr>
            \(kindRows)</table>
            <h2>Quality gates</h2>
            \(gatesSection)
            <script type="application/json" id="data">\(embedded)</script>
            <script>
            \(script)
            </script>
            </body></html>
            """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Draws every chart from the embedded data; plain DOM and SVG, no library.
    static let script = #"""
        (function () {
          var data = JSON.parse(document.getElementById("data").textContent);
          var NS = "http://www.w3.org/2000/svg";
          var colors = ["#3b6fd8", "#d8563b", "#3bb273", "#a33bd8", "#d8b53b"];
          function el(svg, name, attrs, text) {
            var node = document.createElementNS(NS, name);
            for (var key in attrs) node.setAttribute(key, attrs[key]);
            if (text !== undefined) node.textContent = text;
            svg.appendChild(node);
            return node;
          }
          function frame(svg) {
            var w = +svg.getAttribute("width"), h = +svg.getAttribute("height");
            return {w: w, h: h, left: 40, right: w - 10, top: 10, bottom: h - 40};
          }
          function empty(svg, f) { el(svg, "text", {x: f.left, y: f.top + 20}, "no data"); return 0; }
          function bars(svg, items, max, extra) {
            var f = frame(svg), marks = 0;
            if (!items.length) return empty(svg, f);
            var step = (f.right - f.left) / items.length, width = Math.max(2, step * 0.7);
            el(svg, "line", {x1: f.left, y1: f.bottom, x2: f.right, y2: f.bottom, stroke: "#888"});
            items.forEach(function (item, i) {
              var height = max > 0 ? (item.value / max) * (f.bottom - f.top) : 0;
              var x = f.left + i * step + (step - width) / 2;
              el(svg, "rect", {x: x, y: f.bottom - height, width: width, height: height, fill: colors[0], "class": "mark"});
              marks++;
              if (extra) { extra(item, x, width, f); }
              el(svg, "text", {x: x, y: f.bottom + 14}, item.label.length > 14 ? item.label.slice(0, 13) + "…" : item.label);
            });
            el(svg, "text", {x: 2, y: f.top + 10}, String(max));
            return marks;
          }
          var drawn = 0;
          document.querySelectorAll("svg[data-chart]").forEach(function (svg) {
            var name = svg.getAttribute("data-chart"), marks = 0;
            if (name === "pass_rate") {
              marks = bars(svg, data.pass_rate, 1, function (item, x, width, f) {
                var height = item.first * (f.bottom - f.top);
                el(svg, "rect", {x: x + width / 4, y: f.bottom - height, width: width / 2, height: height, fill: "#1d3b7a"});
              });
            } else if (name === "histogram" || name === "rules") {
              var items = data[name], max = 0;
              items.forEach(function (item) { max = Math.max(max, item.value); });
              marks = bars(svg, items, max);
            } else if (name === "over_time") {
              var f = frame(svg), days = data.over_time.days, series = data.over_time.series, max = 0;
              series.forEach(function (s) { s.values.forEach(function (v) { max = Math.max(max, v); }); });
              if (!days.length || !series.length) { marks = empty(svg, f); }
              series.forEach(function (s, k) {
                var points = s.values.map(function (v, i) {
                  var x = f.left + (days.length > 1 ? i * (f.right - f.left) / (days.length - 1) : (f.right - f.left) / 2);
                  var y = f.bottom - (max > 0 ? v / max : 0) * (f.bottom - f.top);
                  return x.toFixed(1) + "," + y.toFixed(1);
                });
                el(svg, "polyline", {points: points.join(" "), fill: "none", stroke: colors[k % colors.length], "stroke-width": 2, "class": "mark"});
                points.forEach(function (p) { var xy = p.split(","); el(svg, "circle", {cx: xy[0], cy: xy[1], r: 3, fill: colors[k % colors.length]}); });
                el(svg, "text", {x: f.left + 5 + k * 85, y: f.bottom + 30, fill: colors[k % colors.length]}, s.label);
                marks++;
              });
              if (days.length) { el(svg, "text", {x: f.left, y: f.bottom + 14}, days[0]); el(svg, "text", {x: f.right - 70, y: f.bottom + 14}, days[days.length - 1]); }
            }
            svg.setAttribute("data-marks", String(marks));
            drawn++;
          });
          document.body.setAttribute("data-charts-drawn", String(drawn));
        })();
        """#
}
