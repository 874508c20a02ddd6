import Glibc

// warden-mcp: a stdio <-> fd 3 relay inside the sandbox. MCP clients that spawn a stdio
// server (the Python `mcp` SDK, Inspect's mcp_server_stdio) start `warden-mcp` and talk to
// the broker through it unchanged. Bytes are copied as they come, both ways; the relay ends
// when either side closes.

let usage = """
    USAGE: warden-mcp

    Relays stdin to the Warden broker (fd $WARDEN_BROKER_FD, default 3, or else the socket
    $WARDEN_BROKER_SOCKET, default /run/warden/broker.sock) and the broker's replies to stdout. Configure it as the stdio MCP server of any MCP client inside a Warden
    sandbox, e.g. in Python: StdioServerParameters(command="warden-mcp").
    """

if CommandLine.arguments.count > 1 {
    print(usage)
    exit(CommandLine.arguments[1] == "--help" || CommandLine.arguments[1] == "-h" ? 0 : 2)
}

/// The broker: fd $WARDEN_BROKER_FD (3) when this process inherited it, else a connection to
/// $WARDEN_BROKER_SOCKET (MCP clients start their stdio server with every other fd closed).
func brokerConnection() -> Int32? {
    let fd = Int32(getenv("WARDEN_BROKER_FD").map { String(cString: $0) } ?? "3") ?? 3
    var info = stat()
    if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { return fd }
    // MCP clients pass the server a minimal environment, so the sandbox's fixed path is the default.
    let path = getenv("WARDEN_BROKER_SOCKET").map { String(cString: $0) } ?? "/run/warden/broker.sock"
    let socketFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard socketFD >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return rc == 0 ? socketFD : nil
}

guard let broker = brokerConnection() else {
    let message = Array("warden-mcp: no broker: fd 3 is not a socket and $WARDEN_BROKER_SOCKET cannot be reached; run me inside a Warden sandbox\n".utf8)
    _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// Copies what is available from `from` to `to`; false at end of stream or on error.
func pump(_ from: Int32, _ to: Int32, _ buffer: inout [UInt8]) -> Bool {
    let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
    if n < 0 { return errno == EINTR || errno == EAGAIN }
    if n == 0 { return false }
    var offset = 0
    while offset < n {
        let written = buffer.withUnsafeBytes { write(to, $0.baseAddress! + offset, n - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}

var buffer = [UInt8](repeating: 0, count: 65536)
var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: broker, events: Int16(POLLIN), revents: 0)]
relay: while true {
    if poll(&fds, 2, -1) < 0 {
        if errno == EINTR { continue }
        break
    }
    for index in 0..<2 where fds[index].revents != 0 {
        let (from, to) = index == 0 ? (Int32(0), broker) : (broker, Int32(1))
        if !pump(from, to, &buffer) { break relay }
    }
}
// Tell the broker no more requests are coming.
shutdown(broker, Int32(SHUT_WR))
exit(0)
