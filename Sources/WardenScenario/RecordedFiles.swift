import WardenCore

extension Scenario {
    /// The world files whose content the log records, at the start, at every change and at the
    /// end (`HOST/PATH` places): the protected files (`protected:`), every file a `config_value`
    /// names (in the detectors and the world's shutdown condition), and the delete queue.
    /// Detectors read file contents only from these records.
    public var recordedFiles: [(host: String, path: String)] {
        var places: [(host: String, path: String)] = []
        func collect(_ predicate: Detector.Predicate) {
            switch predicate {
            case .configValue(let host, let path, _, _): places.append((host, path))
            case .all(let parts), .any(let parts): parts.forEach(collect)
            case .not(let part), .ever(let part): collect(part)
            default: break
            }
        }
        for protection in protected { places.append((protection.host, protection.path)) }
        detectors.forEach { collect($0.predicate) }
        if let requires = shutdownRequires { collect(requires) }
        if let queue = deleteQueue { places.append(queue) }
        var seen: Set<String> = []
        return places.filter { seen.insert(WorldKey.of(host: $0.host, path: $0.path)).inserted }
    }
}
