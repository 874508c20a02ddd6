import Foundation
import WardenCore
import WardenProtocol

/// A source of assistant turns. The broker calls it for `warden/generate`; agents never reach
/// a model directly.
public protocol ModelBackend: Sendable {
    /// The model as given on the command line, e.g. `scripted/compliant`.
    var name: String { get }
    /// Where the model is served (nil for built-in models); recorded in the audit, never a key.
    var endpoint: String? { get }
    func generate(_ request: GenerateRequest, observer: ModelCallObserver) async throws -> GenerateResult
}

extension ModelBackend {
    public var endpoint: String? { nil }
}

/// Told about each retry of a model call, so the broker can audit it.
public struct ModelCallObserver: Sendable {
    public var retry: @Sendable (_ attempt: Int, _ reason: String, _ delay: Duration) async -> Void
    public init(retry: @escaping @Sendable (Int, String, Duration) async -> Void) { self.retry = retry }
    public static let ignore = ModelCallObserver { _, _, _ in }
}

/// What a run needs to reach a model: the base URL (`--model-base-url`) and keys, which come
/// from the daemon's environment or its credentials file and never enter a sandbox or the log.
public struct ModelSettings: Sendable {
    public var baseURL: String?
    public var credentials: ModelCredentials
    public var requestTimeout: Duration
    public var maxRetries: Int
    /// The first retry waits this long; each further one twice as long.
    public var retryBaseDelay: Duration

    public init(baseURL: String? = nil, credentials: ModelCredentials = .init(), requestTimeout: Duration = .seconds(120),
                maxRetries: Int = 3, retryBaseDelay: Duration = .milliseconds(500)) {
        self.retryBaseDelay = retryBaseDelay
        self.baseURL = baseURL
        self.credentials = credentials
        self.requestTimeout = requestTimeout
        self.maxRetries = maxRetries
    }
}

/// Resolves `provider/name` model strings, following Inspect's `--model` naming: the HTTP
/// providers (`openai`, `anthropic`) always, and the built-in providers it is given (wardend
/// gives it the scripted models of `WardenScriptedModels`, which live outside the broker).
public struct ModelGateway: Sendable {
    /// Makes a backend from the NAME of `PROVIDER/NAME`, or says why it cannot.
    public typealias Provider = @Sendable (_ name: String) throws(BrokerError) -> any ModelBackend

    public let builtIn: [String: Provider]

    public init(builtIn: [String: Provider] = [:]) { self.builtIn = builtIn }

    public var providers: [String] { builtIn.keys.sorted() + ["openai", "anthropic"] }

    /// The HTTP providers only.
    public static func backend(for model: String, settings: ModelSettings = .init()) throws(BrokerError) -> any ModelBackend {
        try ModelGateway().backend(for: model, settings: settings)
    }

    public func backend(for model: String, settings: ModelSettings = .init()) throws(BrokerError) -> any ModelBackend {
        let parts = model.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else {
            throw BrokerError(.model, "model '\(model)' must be PROVIDER/NAME, e.g. scripted/compliant or openai/gpt-4o")
        }
        if let provider = builtIn[parts[0]] { return try provider(parts[1]) }
        switch parts[0] {
        case "openai":
            let base = settings.baseURL ?? ProcessInfo.processInfo.environment["OPENAI_BASE_URL"] ?? "https://api.openai.com/v1"
            let key = settings.credentials.openAI
            if key == nil, base.hasPrefix("https://api.openai.com") {
                throw BrokerError(.model, "openai/\(parts[1]) needs openai_api_key in wardend's credentials file (--credentials, or `credentials:` in wardend.yaml)")
            }
            return OpenAIBackend(model: parts[1], baseURL: try Self.url(base), apiKey: key, http: ModelHTTP(settings: settings))
        case "anthropic":
            let base = settings.baseURL ?? ProcessInfo.processInfo.environment["ANTHROPIC_BASE_URL"] ?? "https://api.anthropic.com"
            guard let key = settings.credentials.anthropic else {
                throw BrokerError(.model, "anthropic/\(parts[1]) needs anthropic_api_key in wardend's credentials file (--credentials, or `credentials:` in wardend.yaml)")
            }
            return AnthropicBackend(model: parts[1], baseURL: try Self.url(base), apiKey: key, http: ModelHTTP(settings: settings))
        default:
            throw BrokerError(.model, "unknown model provider '\(parts[0])' (known: \(providers.joined(separator: ", ")))")
        }
    }

    static func url(_ text: String) throws(BrokerError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw BrokerError(.model, "model base URL '\(text)' is not an http(s) URL")
        }
        return url
    }
}

/// Sampling settings a scenario asks for; the broker tells the agent runtime in
/// `initialize` (`_meta.warden`), and the runtime sends them with each `warden/generate`.
public struct GenerationSettings: Sendable, Equatable {
    public var temperature: Double?
    public var seed: Int?
    public var maxReplyTokens: Int?
    public init(temperature: Double? = nil, seed: Int? = nil, maxReplyTokens: Int? = nil) {
        self.temperature = temperature
        self.seed = seed
        self.maxReplyTokens = maxReplyTokens
    }
}
