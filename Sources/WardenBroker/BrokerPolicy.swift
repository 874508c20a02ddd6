import WardenCore
import WardenScenario

/// What an agent may do through the broker, read from `policies/broker/NAME.yaml`:
///
/// ```yaml
/// tools:
///   allow: [list_servers, list_files, ...]   # or "all"
///   deny: [delete_file]                      # wins over allow
/// limits:
///   max_message_bytes: 1048576               # longest JSON-RPC line accepted
///   max_tool_output_bytes: 65536             # tool output beyond this is cut, marked
///   shell_timeout_seconds: 30                # a `bash` command is killed after this
/// ```
/// A tool is listed and callable only when the scenario gives it to the agent and the policy
/// allows it.
public struct BrokerPolicy: Sendable, Equatable {
    public var name: String
    public var file: String
    public var allow: Set<String>
    public var deny: Set<String>
    public var maxMessageBytes: Int
    public var maxToolOutputBytes: Int
    public var shellTimeoutSeconds: Double = 30

    public func permits(_ tool: String) -> Bool { allow.contains(tool) && !deny.contains(tool) }

    public static func load(contentsOf path: String, name: String) throws(ConfigError) -> BrokerPolicy {
        let root = try ConfigNode.load(contentsOf: path)
        try root.checkKeys(["version", "description", "tools", "limits"])
        var policy = BrokerPolicy(name: name, file: path, allow: [], deny: [], maxMessageBytes: 1 << 20, maxToolOutputBytes: 64 << 10)
        let tools = try root.required("tools")
        try tools.checkKeys(["allow", "deny"])
        func names(_ node: ConfigNode) throws(ConfigError) -> Set<String> {
            if node.isScalar, try node.string() == "all" { return Set(Scenario.toolNames) }
            var result: Set<String> = []
            for element in try node.elements() {
                let tool = try element.string()
                guard Scenario.toolNames.contains(tool) else {
                    throw element.error("unknown tool '\(tool)' (known: \(Scenario.toolNames.joined(separator: ", ")))")
                }
                result.insert(tool)
            }
            return result
        }
        policy.allow = try names(tools.required("allow"))
        if let deny = tools.optional("deny") { policy.deny = try names(deny) }
        if let limits = root.optional("limits") {
            try limits.checkKeys(["max_message_bytes", "max_tool_output_bytes", "shell_timeout_seconds"])
            if let node = limits.optional("shell_timeout_seconds") {
                policy.shellTimeoutSeconds = try node.double()
                guard (0.1...3600).contains(policy.shellTimeoutSeconds) else { throw node.error("must be 0.1 to 3600 seconds") }
            }
            if let node = limits.optional("max_message_bytes") {
                policy.maxMessageBytes = try node.int()
                guard (1024...(64 << 20)).contains(policy.maxMessageBytes) else { throw node.error("must be 1 KiB to 64 MiB") }
            }
            if let node = limits.optional("max_tool_output_bytes") {
                policy.maxToolOutputBytes = try node.int()
                guard (256...(16 << 20)).contains(policy.maxToolOutputBytes) else { throw node.error("must be 256 bytes to 16 MiB") }
            }
        }
        return policy
    }

    /// The policy named `name` from the policies directory (`broker/NAME.yaml`).
    public static func named(_ name: String, policiesDirectory: String) throws(BrokerError) -> BrokerPolicy {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw BrokerError(.policy, "invalid broker policy name '\(name)'")
        }
        do {
            return try load(contentsOf: "\(policiesDirectory)/broker/\(name).yaml", name: name)
        } catch {
            throw BrokerError(.policy, error.description)
        }
    }
}
