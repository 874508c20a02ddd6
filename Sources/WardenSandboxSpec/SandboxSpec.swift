import WardenWire

/// Everything the launcher needs to build one sandbox. The daemon writes it as JSON to the
/// launcher's fd 4; `warden-sandbox` on its own builds it from flags and policies.
public struct SandboxSpec: Codable, Sendable, Equatable {
    public struct Bind: Codable, Sendable, Equatable {
        public var source: String
        public var target: String
        public init(source: String, target: String) {
            self.source = source
            self.target = target
        }
    }

    /// argv; a program name without `/` is looked up on the sandbox's PATH.
    public var command: [String]
    public var environment: [String: String]
    public var hostname: String
    /// System directories bound read-only at the same path.
    public var systemBinds: [String]
    /// Further read-only binds (agent binaries, runtime libraries, user `--bind-ro`).
    public var binds: [Bind]
    public var tmpSizeBytes: UInt64
    public var uid: UInt32
    public var gid: UInt32
    public var hostUID: UInt32
    public var hostGID: UInt32
    public var rlimits: [String: UInt64]
    /// Classic BPF programs, base64, installed in order.
    public var seccompFilters: [String]
    /// Whether fd 3 (the broker socket) is passed through to the agent.
    public var keepBrokerFD: Bool
    public var landlockMinimumABI: Int = 1
    public var landlockBestEffort: Bool = false
    public var cgroupMemoryBytes: UInt64?
    public var cgroupPids: Int?
    public var cgroupCPU: Double?
    /// Refuse to run when no cgroup hierarchy can take the limits.
    public var cgroupRequired: Bool = false
    /// Host directories bound read-write (the world's hosts under /srv/hosts), with Landlock
    /// write access.
    public var writableBinds: [Bind] = []
    /// Install the filter with a listener and hand its fd to the daemon (SCM_RIGHTS on fd 5).
    public var supervised: Bool = false
    /// Run a command server for the broker's `bash` tool on fd 6, inside this same sandbox.
    public var shell: Bool = false
    /// Whose sandbox this is: the cgroup parent of v1 controllers (`/sys/fs/cgroup/CTL/INSTANCE`)
    /// and the `--instance` of the daemon's launchers. A daemon names it after its state
    /// directory (`Instance`), so daemons on one host never touch each other's cgroups or
    /// launchers; `warden-sandbox` on its own uses `warden`.
    public var instance: String = "warden"

    public init(command: [String], environment: [String: String], hostname: String, systemBinds: [String], binds: [Bind],
                tmpSizeBytes: UInt64, uid: UInt32, gid: UInt32, hostUID: UInt32, hostGID: UInt32,
                rlimits: [String: UInt64], seccompFilters: [String], keepBrokerFD: Bool) {
        self.command = command
        self.environment = environment
        self.hostname = hostname
        self.systemBinds = systemBinds
        self.binds = binds
        self.tmpSizeBytes = tmpSizeBytes
        self.uid = uid
        self.gid = gid
        self.hostUID = hostUID
        self.hostGID = hostGID
        self.rlimits = rlimits
        self.seccompFilters = seccompFilters
        self.keepBrokerFD = keepBrokerFD
    }

    /// What a standby launcher builds before it knows the run: a run's spec must agree with the
    /// template on all of it.
    public struct Preparation: Equatable, Sendable {
        var systemBinds: [String]
        var tmpSizeBytes: UInt64
        var ids: [UInt32]
        var cgroupMemoryBytes: UInt64?
        var cgroupPids: Int?
        var cgroupCPU: Double?
        var cgroupRequired: Bool
    }

    public var preparation: Preparation {
        Preparation(systemBinds: systemBinds, tmpSizeBytes: tmpSizeBytes, ids: [uid, gid, hostUID, hostGID],
                    cgroupMemoryBytes: cgroupMemoryBytes, cgroupPids: cgroupPids, cgroupCPU: cgroupCPU, cgroupRequired: cgroupRequired)
    }

    /// How a standby launcher's refusal of a spec it was not prepared for begins.
    public static let standbyMismatch = "standby mismatch"

}

/// What the launcher reports on its status fd before it executes the agent: the layers it
/// actually applied, for the `sandbox.spawn` audit event.
public struct SandboxReport: Codable, Sendable, Equatable {
    public var namespaces: [String]
    public var pivotRoot: Bool
    public var readOnlyRoot: Bool
    public var systemBinds: [String]
    public var binds: [String]
    public var tmpSizeBytes: UInt64
    public var uid: UInt32
    public var hostUID: UInt32
    public var capabilities: String
    public var noNewPrivs: Bool
    public var seccompFilters: Int
    public var seccompInstructions: Int
    public var rlimits: [String: UInt64]
    public var loopback: Bool
    /// `ABI N` when Landlock restricts the agent, else why not.
    public var landlock: String = "not applied"
    /// The cgroup hierarchy and limits applied (`v1 memory=… pids=… cpu=…`), or why none.
    public var cgroup: String = "not applied"
    /// Layers of the design this launcher does not apply yet, named so no run is silently weaker.
    public var notApplied: [String]
    /// `user notification` when the daemon supervises the filter's notifications.
    public var syscallSupervision: String = "not applied"
    /// Read-write binds (the world's hosts).
    public var writableBinds: [String] = []
    /// Whether a command server for the `bash` tool runs inside the sandbox.
    public var shell: Bool = false
    public var launcherPID: Int32

    public init(namespaces: [String], pivotRoot: Bool, readOnlyRoot: Bool, systemBinds: [String], binds: [String],
                tmpSizeBytes: UInt64, uid: UInt32, hostUID: UInt32, capabilities: String, noNewPrivs: Bool,
                seccompFilters: Int, seccompInstructions: Int, rlimits: [String: UInt64], loopback: Bool,
                notApplied: [String], launcherPID: Int32) {
        self.namespaces = namespaces
        self.pivotRoot = pivotRoot
        self.readOnlyRoot = readOnlyRoot
        self.systemBinds = systemBinds
        self.binds = binds
        self.tmpSizeBytes = tmpSizeBytes
        self.uid = uid
        self.hostUID = hostUID
        self.capabilities = capabilities
        self.noNewPrivs = noNewPrivs
        self.seccompFilters = seccompFilters
        self.seccompInstructions = seccompInstructions
        self.rlimits = rlimits
        self.loopback = loopback
        self.notApplied = notApplied
        self.launcherPID = launcherPID
    }
}
