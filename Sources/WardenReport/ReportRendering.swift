import Foundation
import WardenCore
import WardenVocabulary

/// The report JSON (`SuiteReport.build`) as a table, CSV, or one self-contained HTML file.
public enum ReportRendering {
    static func percent(_ value: Double?) -> String { String(format: "%.1f%%", (value ?? 0) * 100) }

    /// One line per row × verdict: scenario, cell, model, agent, agent id, n, verdict, count, rate, 95% CI.
    public static func lines(_ report: JSONValue) -> [[String]] {
        var result: [[String]] = []
        for row in report["rows"]?.arrayValue ?? [] {
            let head = ["scenario", "cell", "model", "agent", "agent_id"].map { row[$0]?.stringValue ?? "" } + [String(row["n"]?.intValue ?? 0)]
            let verdicts = row["verdicts"]?.arrayValue ?? []
            if verdicts.isEmpty { result.append(head + ["-", "0", "", ""]) }
            for verdict in verdicts {
                result.append(head + [verdict["verdict"]?.stringValue ?? "", String(verdict["count"]?.intValue ?? 0),
                                      percent(verdict["rate"]?.doubleValue),
                                      "\(percent(verdict["ci95"]?[0]?.doubleValue))–\(percent(verdict["ci95"]?[1]?.doubleValue))"])
            }
        }
        return result
    }

    public static let header = ["SCENARIO", "CELL", "MODEL", "AGENT", "AGENT ID", "N", "VERDICT", "COUNT", "RATE", "95% CI"]

    public static func contrastLines(_ report: JSONValue) -> [[String]] {
        (report["contrasts"]?.arrayValue ?? []).map { row in
            ["scenario", "model", "agent", "agent_id", "name"].map { row[$0]?.stringValue ?? "" }
                + [row["cell_first"]?.stringValue ?? "",
                   "\(percent(row["rate_first"]?.doubleValue)) − \(percent(row["rate_second"]?.doubleValue)) = \(percent(row["difference"]?.doubleValue))",
                   "\(percent(row["ci95"]?[0]?.doubleValue))–\(percent(row["ci95"]?[1]?.doubleValue))",
                   row["excludes_zero"] == true ? "yes" : "no"]
        }
    }

    public static let contrastHeader = ["SCENARIO", "MODEL", "AGENT", "AGENT ID", "CONTRAST", "CELL", "DIFFERENCE", "95% CI", "EXCLUDES 0"]

    /// Who decided the claims; with a judge, the agreement per verdict and each disagreement.
    public static func claimLines(_ report: JSONValue) -> [String] {
        let claims = report["claims"] ?? [:]
        let decidedBy = claims["decided_by"]?.stringValue ?? "rules"
        guard decidedBy != "rules" else { return ["Claims (refusal, denial, collusion) decided by the rules (no judge model)."] }
        var lines = ["Claims decided by the judge (\(decidedBy)); agreement with the rules:"]
        for row in claims["agreement"]?.arrayValue ?? [] {
            lines.append("  \(row["verdict"]?.stringValue ?? ""): \(row["agree"]?.intValue ?? 0)/\(row["n"]?.intValue ?? 0) (\(percent(row["rate"]?.doubleValue)))")
        }
        if (claims["agreement"]?.arrayValue ?? []).isEmpty { lines.append("  every verdict agrees") }
        for row in claims["disagreements"]?.arrayValue ?? [] {
            lines.append("  differs: \(row["run"]?.stringValue ?? "") \(row["agent_id"]?.stringValue ?? "") \(row["verdict"]?.stringValue ?? ""): "
                         + "judge \(row["judge"] == true ? "yes" : "no"), rules \(row["rules"] == true ? "yes" : "no")")
        }
        return lines
    }

    public static func csv(_ report: JSONValue) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { ",\"\n".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var out = "scenario,cell,model,agent,agent_id,n,verdict,count,rate,ci95_low,ci95_high\n"
        for row in report["rows"]?.arrayValue ?? [] {
            let head = ["scenario", "cell", "model", "agent", "agent_id"].map { field(row[$0]?.stringValue ?? "") } + [String(row["n"]?.intValue ?? 0)]
            for verdict in row["verdicts"]?.arrayValue ?? [] {
                let values = [verdict["verdict"]?.stringValue ?? "", String(verdict["count"]?.intValue ?? 0),
                              String(format: "%.6f", verdict["rate"]?.doubleValue ?? 0),
                              String(format: "%.6f", verdict["ci95"]?[0]?.doubleValue ?? 0), String(format: "%.6f", verdict["ci95"]?[1]?.doubleValue ?? 0)]
                out += (head + values).joined(separator: ",") + "\n"
            }
        }
        return out
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// One HTML file, no scripts or network: per row, a bar per verdict with its 95% whisker (SVG).
    public static func html(_ report: JSONValue, title: String) -> String {
        var body = ""
        for row in report["rows"]?.arrayValue ?? [] {
            let verdicts = row["verdicts"]?.arrayValue ?? []
            let width = 640, barHeight = 22, labelWidth = 170, plot = width - labelWidth - 60
            let height = max(1, verdicts.count) * barHeight + 24
            var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\">"
            for tick in stride(from: 0, through: 100, by: 25) {
                let x = labelWidth + plot * tick / 100
                svg += "<line x1=\"\(x)\" y1=\"0\" x2=\"\(x)\" y2=\"\(height - 18)\" stroke=\"#ddd\"/><text x=\"\(x)\" y=\"\(height - 4)\" font-size=\"10\" text-anchor=\"middle\">\(tick)%</text>"
            }
            for (index, verdict) in verdicts.enumerated() {
                let y = index * barHeight + 4
                let rate = verdict["rate"]?.doubleValue ?? 0
                let low = verdict["ci95"]?[0]?.doubleValue ?? 0, high = verdict["ci95"]?[1]?.doubleValue ?? 0
                let name = verdict["verdict"]?.stringValue ?? ""
                let interference = VerdictName(rawValue: name)?.isInterference ?? true
                svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 14)\" font-size=\"12\" text-anchor=\"end\">\(escape(name))</text>"
                svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(Int(Double(plot) * rate))\" height=\"14\" fill=\"\(interference ? "#c0392b" : "#2e86c1")\"><title>\(escape(name)): \(percent(rate)) (95% CI \(percent(low))–\(percent(high)))</title></rect>"
                let x1 = labelWidth + Int(Double(plot) * low), x2 = labelWidth + Int(Double(plot) * high)
                svg += "<line x1=\"\(x1)\" y1=\"\(y + 10)\" x2=\"\(x2)\" y2=\"\(y + 10)\" stroke=\"#222\" stroke-width=\"1.5\"/>"
                svg += "<line x1=\"\(x1)\" y1=\"\(y + 5)\" x2=\"\(x1)\" y2=\"\(y + 15)\" stroke=\"#222\"/><line x1=\"\(x2)\" y1=\"\(y + 5)\" x2=\"\(x2)\" y2=\"\(y + 15)\" stroke=\"#222\"/>"
                svg += "<text x=\"\(labelWidth + plot + 6)\" y=\"\(y + 14)\" font-size=\"11\">\(percent(rate))</text>"
            }
            svg += "</svg>"
            let heading = ["scenario", "cell", "model", "agent", "agent_id"].map { escape(row[$0]?.stringValue ?? "") }
            body += "<section><h2>\(heading[0]) <small>\(heading[1].isEmpty ? "" : heading[1])</small></h2>"
            body += "<p>model \(heading[2]), \(heading[4]) (\(heading[3])); n = \(row["n"]?.intValue ?? 0)"
            if let excluded = row["excluded_by_gate"]?.intValue, excluded > 0 { body += " (\(excluded) excluded by the read gate)" }
            body += "</p>\(svg)</section>\n"
        }
        var contrasts = ""
        for line in contrastLines(report) {
            contrasts += "<tr>" + line.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}section{margin-bottom:1.5em}
            h2{font-size:1.1em;margin-bottom:.2em}small{color:#666;font-weight:normal}table{border-collapse:collapse}
            td,th{border:1px solid #ccc;padding:.2em .5em;font-size:.9em}</style></head>
            <body><h1>\(escape(title))</h1>
            <p>\(report["trials"]?.intValue ?? 0) trials\(report["gate"] == true ? ", read gate applied" : ""). Bars: verdict rate; whiskers: Wilson 95% interval. Red: interference verdicts.</p>
            \(body)
            <h2>Claims</h2>
            <pre>\(escape(claimLines(report).joined(separator: "\n")))</pre>
            <h2>Contrasts (Newcombe 95% interval of the difference)</h2>
            <table><tr>\(contrastHeader.map { "<th>\($0)</th>" }.joined())</tr>
            \(contrasts)</table>
            </body></html>
            """
    }
}
