import Crypto
import Foundation
import Glibc

/// The daemon's Ed25519 key for checkpoint signatures: `audit-signing.key` (the raw 32-byte
/// private key, mode 0600, created on first start) in the state directory, which no sandbox
/// ever sees, and `audit-signing.pub` (hex) beside it for anyone who verifies.
public struct AuditSigner: Sendable {
    /// The raw private key (Crypto's key types are not Sendable; bytes are).
    private let raw: [UInt8]
    public let publicKey: AuditPublicKey

    init(key: Curve25519.Signing.PrivateKey) {
        raw = Array(key.rawRepresentation)
        publicKey = AuditPublicKey(key.publicKey)
    }

    public static let privateKeyFile = "audit-signing.key"
    public static let publicKeyFile = "audit-signing.pub"

    /// Loads the key from `directory`, creating it (and the public key file) when absent.
    public static func loadOrCreate(in directory: String) throws(AuditError) -> AuditSigner {
        let path = directory + "/" + privateKeyFile
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & 0o077 == 0 else {
                throw AuditError(.key, "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it or remove it to make a new key")
            }
            guard let data = FileManager.default.contents(atPath: path),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data) else {
                throw AuditError(.key, "\(path) is not an Ed25519 private key (32 raw bytes)")
            }
            let signer = AuditSigner(key: key)
            try signer.writePublicKey(in: directory)
            return signer
        }
        let key = Curve25519.Signing.PrivateKey()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(.key, "cannot create \(path): \(String(cString: strerror(errno)))") }
        let raw = Array(key.rawRepresentation)
        let written = raw.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == raw.count, synced else { throw AuditError(.key, "cannot write \(path)") }
        let signer = AuditSigner(key: key)
        try signer.writePublicKey(in: directory)
        return signer
    }

    private func writePublicKey(in directory: String) throws(AuditError) {
        let path = directory + "/" + Self.publicKeyFile
        do { try (publicKey.hex + "\n").write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw AuditError(.key, "cannot write \(path): \(error)")
        }
        chmod(path, 0o644)
    }

    func sign(_ message: [UInt8]) -> [UInt8] {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else { return [] }
        return (try? Array(key.signature(for: message))) ?? []
    }
}

/// An Ed25519 public key that checks checkpoint signatures.
public struct AuditPublicKey: Sendable, Equatable {
    private let raw: [UInt8]

    init(_ key: Curve25519.Signing.PublicKey) { raw = Array(key.rawRepresentation) }

    /// From its hex form (the content of `audit-signing.pub`).
    public init(hex text: String) throws(AuditError) {
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit),
              (try? Curve25519.Signing.PublicKey(rawRepresentation: AuditChain.hexBytes(hex))) != nil else {
            throw AuditError(.key, "'\(hex.prefix(80))' is not an Ed25519 public key (64 hex digits)")
        }
        raw = AuditChain.hexBytes(hex)
    }

    public static func load(_ path: String) throws(AuditError) -> AuditPublicKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AuditError(.key, "cannot read the public key \(path)")
        }
        return try AuditPublicKey(hex: text)
    }

    public var hex: String { raw.hex }
    /// A short name for the key: the first 16 hex digits of SHA-256 of the raw public key.
    public var id: String { String(Array(SHA256.hash(data: raw)).hex.prefix(16)) }

    func isValid(signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: message)
    }
}
