import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import WardenBroker

/// Checks, before any sandbox starts, that a model server can be reached at all, so a typo in
/// `--model-base-url` is one clear error instead of a run full of failed turns.
enum ModelPreflight {
    static func check(_ model: any ModelBackend) async throws {
        guard let endpoint = model.endpoint, let url = URL(string: endpoint) else { return }
        var request = URLRequest(url: url)
        request.httpMethod = "GET"
        request.timeoutInterval = 5
        do {
            // Any HTTP answer (even 404) shows a server is there; only transport failures count.
            _ = try await URLSession.shared.data(for: request)
        } catch {
            throw DaemonError(.run, "cannot reach the model server for \(model.name) at \(endpoint): \(error.localizedDescription). Is it running? Check --model-base-url.")
        }
    }
}
