/// Warden's version, as the broker and the agent runtime name themselves in MCP's handshake.
public enum WardenVersion {
    public static let string = "0.3.0"
}
