import Glibc

// warden-mcp: a stdio <-> fd 3 relay inside the sandbox. MCP clients that spawn a stdio
// server (the Python `mcp` SDK, Inspect's mcp_server_stdio) start `warden-mcp` and talk to
// the broker through it unchanged. Bytes are copied as they come, both ways; the relay ends
// when either side closes.

let usage = """
    USAGE: warden-mcp

    Relays stdin to the Warden broker (fd $WARDEN_BROKER_FD, default 3) and the broker's
    replies to stdout. Configure it as the stdio MCP server of any MCP client inside a Warden
    sandbox, e.g. in Python: StdioServerParameters(command="warden-mcp").
    """

if CommandLine.arguments.count > 1 {
    print(usage)
    exit(CommandLine.arguments[1] == "--help" || CommandLine.arguments[1] == "-h" ? 0 : 2)
}

let environment = getenv("WARDEN_BROKER_FD").map { String(cString: $0) }
let broker = Int32(environment ?? "3") ?? 3
var info = stat()
guard fstat(broker, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else {
    let message = Array("warden-mcp: fd \(broker) is not the broker socket; run me inside a Warden sandbox\n".utf8)
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
