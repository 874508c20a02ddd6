import WardenBroker

extension ModelGateway {
    /// The gateway wardend uses: the HTTP providers and `scripted/PROFILE`.
    public static let withScriptedModels = ModelGateway(builtIn: ["scripted": ScriptedModel.named])
}

extension ScriptedModel {
    /// The scripted model of profile `name`, or an error listing the profiles.
    @Sendable public static func named(_ name: String) throws(BrokerError) -> any ModelBackend {
        guard let profile = ScriptedProfile(rawValue: name) else {
            throw BrokerError(.model, "no scripted profile '\(name)' (known: \(ScriptedProfile.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return ScriptedModel(profile: profile)
    }
}
