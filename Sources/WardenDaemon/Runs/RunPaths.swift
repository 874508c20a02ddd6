/// Where a run's files are. Its record stays on disk (STATE/runs/RUN: agent logs, the final
/// world); its transient parts — the world's tmpfs mount point and the agents' broker sockets —
/// live on the live tmpfs (STATE/live/RUN) and are gone when the run ends.
struct RunPaths: Sendable {
    let record: String
    let live: String

    init(stateDirectory: String, runID: String) {
        record = stateDirectory + "/runs/" + runID
        live = stateDirectory + "/live/" + runID
    }

    var agents: String { record + "/agents" }
    /// The world as the run left it, on disk.
    var keptWorld: String { record + "/world" }
    /// The world's tmpfs while the run lasts.
    var liveWorld: String { live + "/world" }
    func brokerSocket(agent: String) -> String { live + "/" + agent + ".sock" }
}
