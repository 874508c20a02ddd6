import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import WardenCore

/// JSON over HTTP to a model server, with the failure handling every backend shares: a
/// timeout per request; bounded retries with exponential backoff (or the server's
/// Retry-After, up to 10 s) on connection failures, timeouts, 408, 429 and 5xx; a cap on the
/// reply's size; and errors that quote at most a short excerpt of what the server said.
struct ModelHTTP: Sendable {
    var timeout: Duration
    var maxRetries: Int
    var maxResponseBytes = 8 << 20
    var baseDelay: Duration

    init(settings: ModelSettings) {
        timeout = settings.requestTimeout
        maxRetries = settings.maxRetries
        baseDelay = settings.retryBaseDelay
    }

    /// Phrases with which llama.cpp's server (and others) say, in an HTTP 500, that the model's
    /// output could not be parsed into a tool call. Sending the same conversation again gives the
    /// same output at temperature 0, so these are not retried: the agent is told instead.
    static let unparseableMarkers = ["does not match the expected", "failed to parse tool call", "error parsing tool call"]

    static let retryableStatus: Set<Int> = [408, 429, 500, 502, 503, 504, 529]

    func postJSON(_ url: URL, headers: [String: String], body: JSONValue, observer: ModelCallObserver) async throws -> JSONValue {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = Data(body.canonicalBytes)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.timeoutInterval = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18

        var attempt = 0
        while true {
            let reason: String
            var delay = baseDelay * (1 << min(attempt, 6))
            do {
                let (data, response) = try await URLSession.shared.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) {
                    guard data.count <= maxResponseBytes else {
                        throw BrokerError(.modelServer, "the model server's reply is \(data.count) bytes, over the \(maxResponseBytes)-byte limit")
                    }
                    do { return try JSONValue.parse(Array(data)) } catch {
                        throw BrokerError(.modelServer, "the model server's reply is not JSON (\(error)): \(Self.excerpt(data))")
                    }
                }
                let text = String(decoding: data.prefix(4096), as: UTF8.self).lowercased()
                if status == 500, Self.unparseableMarkers.contains(where: text.contains) {
                    throw BrokerError(.modelReplyUnparseable, "the model's reply could not be parsed into a tool call: HTTP 500: \(Self.excerpt(data, limit: 300))")
                }
                guard Self.retryableStatus.contains(status) else {
                    throw BrokerError(.modelServer, "the model server answered HTTP \(status): \(Self.excerpt(data))")
                }
                reason = "HTTP \(status): \(Self.excerpt(data, limit: 200))"
                if let retryAfter = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After"), let seconds = Double(retryAfter) {
                    delay = .milliseconds(Int(min(seconds, 10) * 1000))
                }
            } catch let error as BrokerError {
                throw error
            } catch {
                reason = "\(error.localizedDescription)"
            }
            guard attempt < maxRetries else {
                throw BrokerError(.modelServer, "the model server failed \(attempt + 1) times; last: \(reason)")
            }
            attempt += 1
            await observer.retry(attempt, reason, delay)
            try await Task.sleep(for: delay)
        }
    }

    static func excerpt(_ data: Data, limit: Int = 500) -> String {
        let text = String(decoding: data.prefix(limit), as: UTF8.self)
        return data.count > limit ? text + "…" : text
    }

    /// `base` + `/` + `path`, whatever slashes `base` ends with.
    static func join(_ base: URL, _ path: String) -> URL {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return URL(string: text + "/" + path) ?? base
    }
}
