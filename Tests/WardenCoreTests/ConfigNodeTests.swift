import Testing
@testable import WardenCore

@Suite struct ConfigNodeTests {
    let text = """
        name: demo
        limits:
          turns: many
        agents:
          - id: a
            colour: red
        """

    @Test func namesFileLineAndFieldOfATypeError() throws {
        let root = try ConfigNode.parse(text, file: "demo.yaml")
        let error = #expect(throws: ConfigError.self) { try root.required("limits").required("turns").int() }
        #expect(error?.file == "demo.yaml")
        #expect(error?.line == 3)
        #expect(error?.field == "limits.turns")
        #expect(error?.description == "demo.yaml:3: limits.turns: expected an integer")
    }

    @Test func reportsUnknownKeysWithTheirLine() throws {
        let root = try ConfigNode.parse(text, file: "demo.yaml")
        let agent = try root.required("agents").elements()[0]
        let error = #expect(throws: ConfigError.self) { try agent.checkKeys(["id"]) }
        #expect(error?.line == 6)
        #expect(error?.field == "agents[0].colour")
    }

    @Test func reportsMissingFields() throws {
        let root = try ConfigNode.parse(text, file: "demo.yaml")
        let error = #expect(throws: ConfigError.self) { try root.required("world") }
        #expect(error?.field == "world")
        #expect(error?.message == "missing required field")
    }

    @Test func reportsYAMLSyntaxErrorsWithALine() {
        let error = #expect(throws: ConfigError.self) { try ConfigNode.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        #expect(error?.file == "bad.yaml")
        #expect(error?.line != nil)
        #expect(error?.message.hasPrefix("invalid YAML") == true)
    }
}
