import Foundation
import WardenCore

/// API keys for model providers. They come from wardend's environment (`OPENAI_API_KEY`,
/// `ANTHROPIC_API_KEY`) or from a credentials file readable by the daemon alone:
///
/// ```yaml
/// openai_api_key: sk-...
/// anthropic_api_key: sk-ant-...
/// ```
/// Keys are never passed to a sandbox, logged, or written to the audit.
public struct ModelCredentials: Sendable {
    public var openAI: String?
    public var anthropic: String?

    public init(openAI: String? = nil, anthropic: String? = nil) {
        self.openAI = openAI
        self.anthropic = anthropic
    }

    /// The environment's keys, overlaid on the file's (when a file is given).
    public static func load(file: String?) throws(BrokerError) -> ModelCredentials {
        var credentials = ModelCredentials()
        if let file {
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
        }
        let env = ProcessInfo.processInfo.environment
        if let key = env["OPENAI_API_KEY"], !key.isEmpty { credentials.openAI = key }
        if let key = env["ANTHROPIC_API_KEY"], !key.isEmpty { credentials.anthropic = key }
        return credentials
    }
}
