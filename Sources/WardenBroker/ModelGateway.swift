import WardenProtocol

/// A source of assistant turns. The broker calls it for `warden/generate`; agents never reach
/// a model directly.
public protocol ModelBackend: Sendable {
    /// The model as given on the command line, e.g. `scripted/compliant`.
    var name: String { get }
    func generate(_ request: GenerateRequest) async throws -> GenerateResult
}

/// Resolves `provider/name` model strings, following Inspect's `--model` naming.
public enum ModelGateway {
    public static let providers = ["scripted"]

    public static func backend(for model: String) throws(BrokerError) -> any ModelBackend {
        let parts = model.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw BrokerError(.model, "model '\(model)' must be PROVIDER/NAME, e.g. scripted/compliant")
        }
        switch parts[0] {
        case "scripted":
            guard let profile = ScriptedProfile(rawValue: parts[1]) else {
                throw BrokerError(.model, "no scripted profile '\(parts[1])' (known: \(ScriptedProfile.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return ScriptedModel(profile: profile)
        default:
            throw BrokerError(.model, "model provider '\(parts[0])' is not available in this build (available: \(providers.joined(separator: ", ")))")
        }
    }
}
