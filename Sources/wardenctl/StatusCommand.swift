import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's version, uptime, runs, audit size, memory and the sandbox layers this host offers.",
        discussion: """
            EXAMPLES:
              wardenctl status
              wardenctl status --json
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let client = try connection.connect()
        let result = try connection.call(client, ControlAPI.Method.status, [:])
        if connection.json { printJSON(result); return }
        print("wardend \(result["version"]?.stringValue ?? "?") (pid \(result["pid"]?.intValue ?? 0)), up \(result["uptime_seconds"]?.intValue ?? 0) s")
        let active = result["active_runs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        print("runs: \(active.count) active\(active.isEmpty ? "" : " (\(active.joined(separator: ", ")))") with \(result["active_agents"]?.intValue ?? 0) agents, \(result["completed_runs"]?.intValue ?? 0) completed")
        print("audit: \(result["audit_database"]?.stringValue ?? "?") (\(result["audit_events"]?.intValue ?? 0) events, \((result["audit_bytes"]?.intValue ?? 0) / 1024) KiB)")
        if let resident = result["rss_anon_bytes"]?.intValue, let sqlite = result["sqlite_memory_bytes"]?.intValue {
            let inUse = result["heap_in_use_bytes"]?.intValue.map { ", \($0 / 1024) KiB of it in use" } ?? ""
            print("memory: \(resident / 1024) KiB anonymous resident\(inUse), of which SQLite \(sqlite / 1024) KiB")
        }
        if let host = result["host"]?.objectValue {
            print("host: " + host.filter { $0.key != "unavailable" }.sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value.stringValue ?? "?")" }.joined(separator: "; "))
            for (capability, lost) in (host["unavailable"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("unavailable: without \(capability), \(lost.stringValue ?? "")")
            }
        }
    }
}
