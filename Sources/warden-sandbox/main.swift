import Foundation
import Glibc
import WardenCore
import WardenSandbox

let usage = """
    USAGE: warden-sandbox [--policy FILE] [--seccomp FILE] [--bind-ro HOST[:INSIDE]]... [--report] -- CMD [ARGS...]

    Runs one command in Warden's agent sandbox: new user, mount, pid, net, ipc, uts and cgroup
    namespaces; a fresh read-only root with the system directories bound read-only, a private
    /tmp, a new /proc and a minimal /dev; an unprivileged uid with no capabilities; setsid,
    no_new_privs, rlimits; and a default-deny seccomp allowlist compiled with libseccomp.

    OPTIONS:
      --policy FILE        sandbox policy (default: policies/sandbox/default.yaml, found via
                           $WARDEN_POLICY_DIR, /etc/warden/policies, or this checkout)
      --seccomp FILE       seccomp policy (default: the one the sandbox policy names)
      --bind-ro HOST[:INSIDE]
                           also bind HOST read-only at INSIDE (default: the same path)
      --report             print the applied layers as JSON on stderr before running CMD
      -h, --help           show this help

    The daemon runs it as `warden-sandbox --control-fd 4`, ahead of need: it waits on that socket
    for a prepared spec (with the agent's stdout, stderr, broker and shell fds attached), and
    reports back on it. With `--zygote-fd 3` it forks such launchers on request instead (one
    warm process, no exec per sandbox).

    EXAMPLES:
      warden-sandbox -- /bin/sh -c 'grep -E "Seccomp|NoNewPrivs" /proc/self/status'
      warden-sandbox --bind-ro /srv/agent:/opt/agent -- python3 /opt/agent/main.py

    Exit status: the command's, 125 when the sandbox could not be built, 127 when the command
    could not be executed.
    """

// The sandbox's own directories (mount points, /tmp, /dev) get the modes the launcher gives
// them, whatever umask started it: a service's UMask=0077 would otherwise leave them closed to
// the sandbox's unprivileged user.
umask(0o022)

func die(_ message: String) -> Never {
    FileHandle.standardError.write(Data("warden-sandbox: \(message)\n".utf8))
    exit(125)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var policyPath: String?
var seccompPath: String?
var bindTexts: [String] = []
var controlFD: Int32?
var printReport = false
var command: [String] = []

func value(_ flag: String, _ arguments: inout [String]) -> String {
    guard !arguments.isEmpty else { die("\(flag) needs a value (see --help)") }
    return arguments.removeFirst()
}

while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    switch argument {
    case "-h", "--help": print(usage); exit(0)
    case "--policy": policyPath = value(argument, &arguments)
    case "--seccomp": seccompPath = value(argument, &arguments)
    case "--bind-ro": bindTexts.append(value(argument, &arguments))
    case "--report": printReport = true
    case "--control-fd": controlFD = Int32(value(argument, &arguments)) ?? { die("--control-fd needs a number") }()
    // Names the daemon that started this launcher, on its command line (the spec carries it too).
    case "--instance": _ = value(argument, &arguments)
    case "--zygote-fd": Zygote.serve(fd: Int32(value(argument, &arguments)) ?? { die("--zygote-fd needs a number") }())
    case "--": command = arguments; arguments = []
    default:
        if argument.hasPrefix("-") { die("unknown option '\(argument)' (see --help)") }
        command = [argument] + arguments
        arguments = []
    }
}

let spec: SandboxSpec
if let controlFD {
    spec = SpecHandOff.receiveTemplate(controlFD: controlFD)
} else {
    guard !command.isEmpty else { die("no command given (see --help)") }
    do {
        let (policy, seccomp) = try SandboxPolicy.loadDefault(sandboxPolicy: policyPath, seccompPolicy: seccompPath)
        let program = try SeccompCompiler.compile(seccomp)
        var binds: [SandboxSpec.Bind] = []
        for text in bindTexts { binds.append(try SandboxSpec.parseBind(text)) }
        spec = SandboxSpec.make(command: command, policy: policy, seccomp: program, extraBinds: binds, environment: [:],
                                keepBrokerFD: false)
    } catch {
        die("\(error)")
    }
}

Launcher(spec: spec, statusFD: controlFD, printReport: printReport).run()
