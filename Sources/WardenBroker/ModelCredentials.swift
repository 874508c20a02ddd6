import Foundation
import Glibc
import WardenCore

/// API keys for model providers, from a credentials file readable by the daemon alone:
///
/// ```yaml
/// openai_api_key: sk-...
/// anthropic_api_key: sk-ant-...
/// ```
/// Never from wardend's environment: anything running as wardend's user can read that through
/// `/proc/PID/environ`, and every process wardend starts would inherit it. Keys are never passed
/// to a sandbox, logged, or written to the audit.
public struct ModelCredentials: Sendable {
    public var openAI: String?
    public var anthropic: String?

    public init(openAI: String? = nil, anthropic: String? = nil) {
        self.openAI = openAI
        self.anthropic = anthropic
    }

    /// Variables other tools read model keys from; wardend ignores them and removes them from
    /// its environment at start, so no child inherits a key.
    public static let environmentKeys = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]

    /// The file's keys (none without a file).
    public static func load(file: String?) throws(BrokerError) -> ModelCredentials {
        var credentials = ModelCredentials()
        guard let file else { return credentials }
        var info = stat()
        guard stat(file, &info) == 0 else { throw BrokerError(.model, "cannot read the credentials file \(file)") }
        guard info.st_mode & 0o077 == 0 else {
            throw BrokerError(.model, "the credentials file \(file) must be readable by its owner only (chmod 600)")
        }
        do {
            let root = try ConfigNode.load(contentsOf: file)
            try root.checkKeys(["openai_api_key", "anthropic_api_key"])
            credentials.openAI = try root.optional("openai_api_key")?.string()
            credentials.anthropic = try root.optional("anthropic_api_key")?.string()
        } catch {
            throw BrokerError(.model, error.description)
        }
        return credentials
    }

    /// Removes model keys from this process's environment, overwriting their values in the
    /// memory `/proc/self/environ` shows, so no reader of it and no child process gets them.
    /// Returns the names that were set. Call first thing in `main`, before any thread starts.
    public static func scrubEnvironment() -> [String] {
        var found: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let name = environmentKeys.first(where: { text.hasPrefix($0 + "=") }) {
                found.append(name)
                let valueStart = entry + name.utf8.count + 1
                memset(valueStart, Int32(UInt8(ascii: "x")), strlen(valueStart))
            }
            pointer += 1
        }
        for name in found { unsetenv(name) }
        return found
    }
}
