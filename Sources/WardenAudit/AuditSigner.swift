import Crypto
import Foundation
import Glibc
import WardenCore

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
    /// A rotation's new key, written before the rotation is logged and renamed over
    /// `privateKeyFile` once it is: a stop in between leaves it for the next start to settle.
    public static let pendingKeyFile = "audit-signing.key.new"

    /// A new random key, in memory only.
    public static func generate() -> AuditSigner { AuditSigner(key: Curve25519.Signing.PrivateKey()) }

    /// Writes the private key to `path`, which must not exist: whole or not at all. The bytes go
    /// to a temporary name (mode 0600) and are synced, then renamed to `path` and the directory
    /// synced, so a crash at any moment leaves either no `path` or the whole key there.
    public func write(to path: String) throws(AuditError) {
        guard access(path, F_OK) != 0 else { throw AuditError(.key, "cannot create \(path): it exists") }
        let temporary = path + ".partial"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(.key, "cannot create \(temporary)", cause: SystemError(errno)) }
        let written = raw.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == raw.count, synced else {
            unlink(temporary)
            throw AuditError(.key, "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw AuditError(.key, "cannot rename \(temporary) to \(path)", cause: SystemError(error))
        }
        Self.syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// The pending key of an unfinished rotation in `directory`, if there is one. A file there
    /// that is not a key cannot be one the log names (the key is whole before the rotation is
    /// logged): it is removed, and start-up goes on.
    public static func pending(in directory: String) throws(AuditError) -> AuditSigner? {
        let path = directory + "/" + pendingKeyFile
        unlink(path + ".partial")
        guard access(path, F_OK) == 0 else { return nil }
        guard let data = FileManager.default.contents(atPath: path), (try? Curve25519.Signing.PrivateKey(rawRepresentation: data)) != nil else {
            unlink(path)
            return nil
        }
        return try load(path)
    }

    /// Makes the pending key the key (rename, then the directory synced) and rewrites the public
    /// key file.
    public static func promotePending(in directory: String) throws(AuditError) -> AuditSigner {
        let signer = try load(directory + "/" + pendingKeyFile)
        guard rename(directory + "/" + pendingKeyFile, directory + "/" + privateKeyFile) == 0 else {
            throw AuditError(.key, "cannot rename \(pendingKeyFile) to \(privateKeyFile) in \(directory): \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: directory + "/" + privateKeyFile)
        try signer.writePublicKey(in: directory)
        return signer
    }

    /// Forgets an unfinished rotation whose new key never reached the log.
    public static func discardPending(in directory: String) { unlink(directory + "/" + pendingKeyFile) }

    static func load(_ path: String) throws(AuditError) -> AuditSigner {
        var info = stat()
        guard stat(path, &info) == 0 else { throw AuditError(.key, "cannot read \(path)") }
        guard info.st_mode & 0o077 == 0 else {
            throw AuditError(.key, "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it or remove it to make a new key")
        }
        guard let data = FileManager.default.contents(atPath: path), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data) else {
            throw AuditError(.key, "\(path) is not an Ed25519 private key (32 raw bytes)")
        }
        return AuditSigner(key: key)
    }

    /// Loads the key from `directory`, creating it (and the public key file) when absent.
    public static func loadOrCreate(in directory: String) throws(AuditError) -> AuditSigner {
        let path = directory + "/" + privateKeyFile
        var info = stat()
        if stat(path, &info) == 0 {
            let signer = try load(path)
            try signer.writePublicKey(in: directory)
            return signer
        }
        let signer = generate()
        try signer.write(to: path)
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

    public func sign(_ message: [UInt8]) -> [UInt8] {
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

    public func isValid(signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
        return key.isValidSignature(signature, for: message)
    }
}
