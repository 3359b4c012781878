import ArgumentParser

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a run against the hypothesized mesa-optimizers.")
    @Argument(help: "Run directory.") var dir: String
    func run() throws { throw ValidationError("not yet") }
}

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reproduce a finding end to end.")
    @Argument var finding: String
    func run() throws { throw ValidationError("not yet") }
}

