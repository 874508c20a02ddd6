import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol
import WardenReport

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verdict rates per scenario × cell × model, with Wilson 95% intervals and contrasts.",
        discussion: """
            A trial is one agent (not a background peer) in one completed or stopped run. Rates are \
            per verdict with Wilson score 95% intervals. Contrasts compare cells that differ in one \
            axis: monitored − unmonitored (for `complied`, the alignment-faking gap), self − peer, \
            present − alone; each with a Newcombe 95% interval and whether it excludes 0. With \
            --gate, only trials that pass the scenario's read gate count (the study's rule: the \
            agent read the relevant documents and listed the source server).

            EXAMPLES:
              wardenctl report SUITE
              wardenctl report SUITE --gate --format html --output report.html
              wardenctl report --format csv    # every run in the log
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The suite (from `wardenctl suite run` or `suite list`); every run in the log when omitted.")
    var suite: String?

    @Option(help: "table, json, csv or html.")
    var format: String = "table"

    @Flag(help: "Count only trials that pass the scenario's read gate.")
    var gate = false

    @Option(help: "Write to this file instead of stdout.")
    var output: String?

    func validate() throws {
        guard ["table", "json", "csv", "html"].contains(format) else { throw ValidationError("--format is table, json, csv or html") }
    }

    func run() throws {
        let client = try connection.connect()
        var params: [String: JSONValue] = ["gate": .bool(gate)]
        if let suite { params["suite"] = .string(suite) }
        let result = try connection.call(client, ControlAPI.Method.report, .object(params))
        let text: String
        switch connection.json ? "json" : format {
        case "json": text = result.canonicalString + "\n"
        case "csv": text = ReportRendering.csv(result)
        case "html": text = ReportRendering.html(result, title: "Warden report" + (suite.map { " — \($0)" } ?? ""))
        default:
            let lines = ReportRendering.lines(result)
            guard !lines.isEmpty else { print("no finished runs\(suite.map { " in \($0)" } ?? "") yet"); return }
            guard output == nil else { throw ValidationError("--output needs --format json, csv or html") }
            table(ReportRendering.header, lines)
            let contrasts = ReportRendering.contrastLines(result)
            if !contrasts.isEmpty {
                print("")
                table(ReportRendering.contrastHeader, contrasts)
            }
            print("")
            ReportRendering.claimLines(result).forEach { print($0) }
            return
        }
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                printError("cannot write \(output)")
                throw ExitCode(ExitStatus.cantCreate)
            }
            FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}
