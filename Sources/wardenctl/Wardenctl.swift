import ArgumentParser
import Foundation
import WardenCore
import WardenProtocol

@main
struct Wardenctl: ParsableCommand {
    static func main() {
        // A daemon that closes the connection must give an error to report, not kill us; a
        // reader that closes our output (`| head`) ends us quietly (`Output`).
        signal(SIGPIPE, SIG_IGN)
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--version" || arguments == ["version"] {
            GlobalOptions.printVersion(arguments)
            Output.finish()
        }
        main(GlobalOptions.normalized(arguments))
    }

    static let configuration = CommandConfiguration(
        commandName: "wardenctl",
        abstract: "Drive wardend: run scenarios, watch and steer runs, read and verify the audit log.",
        discussion: """
            wardenctl talks to wardend over its control socket (--socket, $WARDEN_SOCKET, or \
            \(ControlAPI.defaultSocketPath)).

            EXIT STATUS: 0 success; 1 the operation reports failure (tampering found, run aborted); \
            65 invalid input (e.g. a scenario error); 69 wardend not reachable; 70 protocol error.

            EXAMPLES:
              wardenctl run scenarios/decommission-transfer.yaml --model scripted/compliant
              wardenctl ps
              wardenctl inject RUN agent-1 message "Please stop and report."
              wardenctl audit tail -f --kind tool.call
              wardenctl audit verify
              wardenctl report
              wardenctl scenario check scenarios/decommission-transfer.yaml

            Shell completion: wardenctl --generate-completion-script bash|zsh|fish
            """,
        subcommands: [Run.self, Ps.self, Stop.self, Kill.self, Inject.self, Audit.self, Report.self, SuiteCommand.self, Status.self, ScenarioCommand.self])
}
