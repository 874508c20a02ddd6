import Glibc
import WardenScenario

extension World {
    static let hostsName = Component(Array("hosts".utf8))!

    /// An entry of the world's `hosts` directory that is none of its hosts.
    struct Stray {
        var name: Component
        var info: stat

        var isDirectory: Bool { info.st_mode & S_IFMT == S_IFDIR }

        /// What it is, for the line that reports it.
        var kind: String {
            switch info.st_mode & S_IFMT {
            case S_IFDIR: "a directory"
            case S_IFREG: "a file"
            case S_IFLNK: "a symlink"
            default: "a special file"
            }
        }
    }

    /// What the `hosts` directory holds besides the world's hosts, in name order, and what could
    /// not be listed. Nothing when wardend runs as root: `hosts` is then wardend's and read-only to
    /// agents (`build`). When it does not, the agent's uid is wardend's own and owns `hosts`, which
    /// is why shell scenarios are then refused (`shellProblem`); snapshots and the kept copy
    /// cover whatever is there all the same, so nothing put beside the hosts goes unseen.
    func strays() -> (found: [Stray], problems: [String]) {
        guard let hosts = openHosts(flags: O_RDONLY | O_DIRECTORY) else { return ([], ["hosts: the world's hosts directory could not be read"]) }
        var budget = walkEntries
        guard let (names, complete) = WorldWalk.list(hosts.fd, budget: &budget) else {
            return ([], ["hosts: the world's hosts directory could not be read"])
        }
        var problems: [String] = []
        if !complete { problems.append("hosts: more than \(walkEntries) entries; the rest were not listed") }
        let known = Set(addresses.map { Array($0.utf8) })
        var found: [Stray] = []
        for name in names where !known.contains(name.bytes) {
            var info = stat()
            guard fstatat(hosts.fd, name.name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            found.append(Stray(name: name, info: info))
        }
        found.sort { $0.name.bytes.lexicographicallyPrecedes($1.name.bytes) }
        return (found, problems)
    }

    /// The world's `hosts` directory, opened beneath the root.
    func openHosts(flags: Int32) -> Descriptor? {
        let fd = Beneath.open(root.fd, Self.hostsName, flags: flags)
        return fd >= 0 ? Descriptor(owning: fd) : nil
    }

    /// The directory `hosts/TOP` (a host's or a stray one's), opened beneath the root.
    func openTop(_ top: Component, flags: Int32) -> Descriptor? {
        let fd = Beneath.open(root.fd, [Self.hostsName, top], flags: flags)
        return fd >= 0 ? Descriptor(owning: fd) : nil
    }
}
