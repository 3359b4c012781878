import Foundation
import Testing

/// Issue 9 and 10 reproducers rerun at the end: what still was not clear, now is.
extension CommandLineTests {
    /// A malformed analysis option is refused by name with the subcommand's message, not the
    /// top-level usage, and nothing is written into the run.
    @Test func analysisOptionsAreRefusedByName() throws {
        let dir = temporaryDirectory().path
        #expect(try mesa(["train"] + small + ["--out", dir]).status == 0)
        for (args, words) in [(["analyze", "probes", dir, "--layers", "x"], ["--layers", "'x'"]),
                              (["analyze", "attention", dir, "--layers", "1,y"], ["--layers", "'1,y'"]),
                              (["analyze", "probes", dir, "--forward", "float16"], ["--forward", "float16"])] {
            let r = try mesa(args)
            #expect(r.status != 0, "\(args) succeeded")
            for w in words { #expect(r.err.contains(w), "\(args): '\(r.err)' lacks '\(w)'") }
            #expect(!r.err.contains("mesa <subcommand>"), "\(args) printed the top-level usage: \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/analysis"))
    }

    /// A refused --resume says nothing of extending the run and leaves config.json as it was; an
    /// accepted one says it extended; a run stopped before its first checkpoint says it starts again.
    @Test func resumeMessagesFollowWhatHappened() throws {
        let dir = temporaryDirectory()
        #expect(try mesa(["train"] + small + ["--out", dir.path]).status == 0)
        let config = dir.appendingPathComponent("config.json")
        let saved = try Data(contentsOf: config)
        let refused = try mesa(["train", "--resume", "--out", dir.path, "--steps", "9", "--seed", "4", "--quiet"])
        #expect(refused.status != 0 && refused.err.contains("seed: 0 → 4"), "\(refused.err)")
        #expect(!refused.err.contains("extend"), "a refused resume said: \(refused.err)")
        #expect(try Data(contentsOf: config) == saved)
        let extended = try mesa(["train", "--resume", "--out", dir.path, "--steps", "5", "--quiet"])
        #expect(extended.status == 0 && extended.err.contains("from 3 to 5 steps"), "\(extended.err)")

        let bare = temporaryDirectory()
        try FileManager.default.createDirectory(at: bare, withIntermediateDirectories: true)
        try saved.write(to: bare.appendingPathComponent("config.json"))
        let again = try mesa(["train", "--resume", "--out", bare.path, "--quiet"])
        #expect(again.status == 0 && again.err.contains("no checkpoint yet") && again.err.contains("step 0"), "\(again.err)")
        let steps = try String(contentsOf: bare.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.prefix { $0 != "," } }
        #expect(steps == ["0", "1", "2", "3"], "\(steps)")
    }
}
