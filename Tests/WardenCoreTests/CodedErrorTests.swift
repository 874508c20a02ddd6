import Glibc
import Testing
import WardenCore

/// An error wrapped in another keeps its code, its words and its own causes.
@Suite struct CodedErrorTests {
    enum Inner: String, Sendable { case full = "inner.full" }
    enum Outer: String, Sendable { case run = "outer.run" }

    @Test func aWrappedErrorsCodeSurvives() {
        let inner = CodedError(Inner.full, "cannot write the world", cause: SystemError(ENOSPC))
        let outer = CodedError(Outer.run, "cannot start the run", cause: inner)
        #expect(outer.codes == ["outer.run", "inner.full"])
        #expect(outer.code(of: Inner.self) == .full)
        #expect(outer.first(SystemError.self)?.errno == ENOSPC)
        #expect(outer.description == "cannot start the run: cannot write the world: No space left on device (ENOSPC) [outer.run]")
        #expect(outer.plainDescription == "cannot start the run: cannot write the world: No space left on device (ENOSPC)")
    }

    /// A file's error says where to look, however deep it is wrapped.
    @Test func aLocatedErrorKeepsItsPlaceWhenWrapped() {
        let located = ConfigError(file: "s.yaml", line: 7, field: "agents[0].tools", message: "unknown tool 'rm'")
        let outer = CodedError(Outer.run, "cannot use the scenario", cause: located)
        #expect(outer.codes == ["outer.run", "config.invalid"])
        #expect(outer.plainDescription == "cannot use the scenario: s.yaml:7: agents[0].tools: unknown tool 'rm'")
    }

    @Test func anErrorWithoutCauseIsItsMessageAndCode() {
        let error = CodedError(Outer.run, "no such run")
        #expect(error.codes == ["outer.run"])
        #expect(error.code(of: Inner.self) == nil)
        #expect(error.description == "no such run [outer.run]")
    }
}
