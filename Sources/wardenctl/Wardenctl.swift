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

            Global options (--socket PATH, --json) go before or after the subcommand. In examples, \
            RUN and SUITE stand for ids that `run` and `suite run` print (or `runs list` and \
            `suite list` show).

            EXIT STATUS:
              0   success
              1   a negative answer: verification failed, rejudge differs, run aborted
              64  usage: an unknown command or option, a missing argument
              65  bad input: a scenario, policy, model name or value; a request too large
              66  no such run, suite or file
              69  wardend is not reachable
              70  internal error: the daemon failed (its disk is full, say), or answered
                  what this client does not understand
              73  an output file cannot be written
              77  permission denied (wardend's socket or the daemon refused this user)
            A reader that closes the output (`| head`) ends wardenctl quietly with status 0.

            EXAMPLES:
              wardenctl run scenarios/peer-evaluation.yaml --model scripted/compliant
              wardenctl --socket /run/warden/control.sock ps
              wardenctl runs list --since 12h
              wardenctl audit tail -f RUN
              wardenctl audit verify
              wardenctl report
              wardenctl scenario check scenarios/decommission-transfer.yaml

            Version: wardenctl --version. Shell completion: \
            wardenctl --generate-completion-script bash|zsh|fish
            """,
        subcommands: [Run.self, Ps.self, Runs.self, Prune.self, Stop.self, Kill.self, Inject.self, Audit.self, Report.self, SuiteCommand.self, Status.self, ScenarioCommand.self])
}
