/// The one shape of Warden's errors: a code a script can match on, a message a person can act
/// on, and the error underneath, if another one caused it. Each module has its own codes
/// (`AuditError`, `SandboxError`, `WorldError`, ...), all this type; wrapping keeps the cause, so
/// an underlying error's code survives (`codes`, `code(of:)`).
public struct CodedError<Code: RawRepresentable & Sendable & Equatable>: Error, Sendable, CustomStringConvertible, CodedFailure
where Code.RawValue == String {
    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message, what caused it, and the code: `cannot start the run: … [daemon.run]`.
    public var description: String {
        guard let cause else { return "\(message) [\(code.rawValue)]" }
        return "\(message): \(Self.spell(cause)) [\(code.rawValue)]"
    }

    public var codeName: String { code.rawValue }
    public var underlying: (any Error & Sendable)? { cause }

    /// The first error of code type `C` in the chain (this one or a cause).
    public func code<C: RawRepresentable & Sendable & Equatable>(of type: C.Type) -> C? where C.RawValue == String {
        if let code = code as? C { return code }
        var next = cause
        while let failure = next {
            if let coded = failure as? CodedError<C> { return coded.code }
            next = (failure as? any CodedFailure)?.underlying
        }
        return nil
    }

    /// A cause's words without its code (the outer error's code closes the line).
    private static func spell(_ cause: any Error) -> String {
        if let failure = cause as? any CodedFailure { return failure.plainDescription }
        return "\(cause)"
    }
}

/// What every `CodedError` is, whatever its code type: for walking a chain of causes.
public protocol CodedFailure: Error, Sendable {
    var codeName: String { get }
    var message: String { get }
    var underlying: (any Error & Sendable)? { get }
    /// The message and its causes, without codes (a located error adds its place).
    var plainDescription: String { get }
}

extension CodedFailure {
    /// The first error of type `T` in the chain: this one or a cause.
    public func first<T: Error>(_ type: T.Type) -> T? {
        if let found = self as? T { return found }
        var next = underlying
        while let error = next {
            if let found = error as? T { return found }
            next = (error as? any CodedFailure)?.underlying
        }
        return nil
    }

    /// Every code from this error down through its causes, outermost first.
    public var codes: [String] {
        var codes = [codeName]
        var next = underlying
        while let failure = next as? any CodedFailure {
            codes.append(failure.codeName)
            next = failure.underlying
        }
        return codes
    }

    /// The message and its causes, without codes.
    public var plainDescription: String {
        guard let underlying else { return message }
        if let failure = underlying as? any CodedFailure { return "\(message): \(failure.plainDescription)" }
        return "\(message): \(underlying)"
    }
}
