import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

/// Exit codes scripts can rely on (sysexits.h where one fits), the same for every command.
enum ExitStatus {
    /// The operation ran and its answer is no: a verification that found tampering, a rejudge
    /// that differs, an aborted run.
    static let failed: Int32 = 1
    /// The command line is wrong (ArgumentParser's own errors).
    static let usage: Int32 = 64
    /// Bad input: an invalid scenario or policy, a value out of range, a request too large.
    static let dataError: Int32 = 65
    /// No such run, suite or file.
    static let noInput: Int32 = 66
    /// wardend is not reachable.
    static let unavailable: Int32 = 69
    /// The daemon failed inside (its disk is full, say), or answered something this client does
    /// not understand.
    static let software: Int32 = 70
    /// The daemon refused this user.
    static let noPermission: Int32 = 77
    /// An output file could not be written.
    static let cantCreate: Int32 = 73
}

/// Options every command that talks to the daemon shares.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Control socket of wardend (default: $WARDEN_SOCKET, else \(ControlAPI.defaultSocketPath)).",
                               valueName: "path"))
    var socket: String?

    @Flag(help: "Print JSON for scripts instead of text.")
    var json = false

    var socketPath: String {
        if let socket { return socket }
        if let env = ProcessInfo.processInfo.environment["WARDEN_SOCKET"], !env.isEmpty { return env }
        return ControlAPI.defaultSocketPath
    }

    /// Connects, or exits with a message saying what to check.
    func connect() throws -> RPCClient {
        do {
            return RPCClient(channel: try LineChannel.connect(unixPath: socketPath))
        } catch {
            if access(socketPath, F_OK) == 0, access(socketPath, W_OK) != 0 || (error.first(SystemError.self)?.errno ?? 0) == EACCES {
                printError("may not use wardend's socket \(socketPath): ask to be added to group warden (usermod -aG warden $USER)")
                throw ExitCode(ExitStatus.noPermission)
            }
            let hint = FileManager.default.fileExists(atPath: socketPath)
                ? "is wardend running? (\(error.plainDescription))"
                : "is wardend running? socket \(socketPath) not found (set --socket or WARDEN_SOCKET)"
            printError("cannot reach wardend: \(hint)")
            throw ExitCode(ExitStatus.unavailable)
        }
    }

    /// Sends one request; a daemon error becomes a message and an exit code.
    func call(_ client: RPCClient, _ method: String, _ params: JSONValue) throws -> JSONValue {
        let size = params.canonicalBytes.count
        guard size < ControlAPI.maxRequestBytes else {
            throw badValue("the request is too large (\(size >> 20) MiB; limit \(ControlAPI.maxRequestBytes >> 20) MiB)")
        }
        do {
            return try client.request(method, params)
        } catch {
            switch error.code {
            case .remote:
                let remote = error.remote ?? RPCError(code: ErrorCode.internalError, message: error.message)
                printError(remote.message)
                throw ExitCode(ExitStatus.of(remote))
            case .closed, .transport:
                printError("the connection to wardend broke: \(error.plainDescription)")
                throw ExitCode(ExitStatus.unavailable)
            case .protocolError:
                printError(error.plainDescription)
                throw ExitCode(ExitStatus.software)
            }
        }
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("wardenctl: \(message)\n".utf8))
}

func printJSON(_ value: JSONValue) {
    print(value.canonicalString)
}

/// One line per audit event, for people.
func describe(_ event: JSONValue) -> String {
    let seq = event["seq"]?.intValue.map(String.init) ?? "?"
    let time = event["time"]?.stringValue ?? ""
    let agent = event["agent"]?.stringValue ?? ""
    let kind = event["kind"]?.stringValue ?? ""
    var payload = event["payload"]?.canonicalString ?? ""
    if payload.count > 160 { payload = String(payload.prefix(157)) + "..." }
    return "\(seq.padding(toLength: max(6, seq.count), withPad: " ", startingAt: 0)) \(time)  \(agent.isEmpty ? "-" : agent)  \(kind)  \(payload)"
}

/// Fixed-width columns for people.
func table(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0 }
    for row in [header] + rows {
        print(row.enumerated().map { index, cell in cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0) }.joined())
    }
}

extension ExitStatus {
    /// Codes of the daemon's errors (`data.codes`, every code down the causes) that mean the
    /// input was bad: a scenario, a policy, a model name, a value.
    static let badInput: Set<String> = ["daemon.scenario", "config.invalid", "broker.model", "broker.policy", "judgement.scenario",
                                        "sandbox.policy", "protocol.field"]

    /// The exit status a daemon's error answer stands for.
    static func of(_ error: RPCError) -> Int32 {
        if error.code == ErrorCode.permissionDenied { return noPermission }
        if [RPCError.invalidParamsCode, ErrorCode.parseError, ErrorCode.invalidRequest].contains(error.code) { return dataError }
        if error.code == ErrorCode.internalError { return software }
        let codes = Set((error.data?["codes"]?.arrayValue ?? []).compactMap(\.stringValue) + [error.data?["code"]?.stringValue].compactMap { $0 })
        if codes.contains("daemon.not_found") { return noInput }
        if !codes.isDisjoint(with: badInput) { return dataError }
        return failed
    }
}

/// Exits with status 65 naming what is wrong with a value the user gave.
func badValue(_ message: String) -> ExitCode {
    printError(message)
    return ExitCode(ExitStatus.dataError)
}
