import Foundation
import WardenCore
import WardenProtocol

/// Options that belong to every command, accepted before the subcommand too, as docker and
/// kubectl users type them (`wardenctl --socket PATH run …`): moved after the subcommand's words,
/// where each command's `ConnectionOptions` reads them.
enum GlobalOptions {
    static let withValue: Set<String> = ["--socket"]
    static let flags: Set<String> = ["--json"]

    /// `arguments` (without the program name) with leading global options moved to the end of
    /// the options (before a `--`, if any).
    static func normalized(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if flags.contains(word) {
                leading.append(word)
                index += 1
            } else if withValue.contains(word), index + 1 < arguments.count {
                leading += [word, arguments[index + 1]]
                index += 2
            } else if let equals = word.firstIndex(of: "="), withValue.contains(String(word[..<equals])) {
                leading.append(word)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        var rest = Array(arguments[index...])
        let end = rest.firstIndex(of: "--") ?? rest.count
        rest.insert(contentsOf: leading, at: end)
        return rest
    }

    /// `wardenctl --version`: this client's version and protocol, and the daemon's when it answers.
    static func printVersion(_ arguments: [String]) {
        print("wardenctl \(WardenVersion.string) (control protocol \(ControlAPI.protocolVersion))")
        var socket = ProcessInfo.processInfo.environment["WARDEN_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? ControlAPI.defaultSocketPath
        if let index = arguments.firstIndex(of: "--socket"), index + 1 < arguments.count { socket = arguments[index + 1] }
        guard let channel = try? LineChannel.connect(unixPath: socket) else {
            print("wardend: not reachable at \(socket)")
            return
        }
        let client = RPCClient(channel: channel)
        client.onNotification = { _, _ in }
        if let status = try? client.request(ControlAPI.Method.status, [:]) {
            print("wardend \(status["version"]?.stringValue ?? "?") (control protocol \(status["protocol"]?.intValue.map(String.init) ?? "?"), pid \(status["pid"]?.intValue ?? 0))")
        } else {
            print("wardend: reachable at \(socket) but did not answer (may you use it?)")
        }
    }
}
