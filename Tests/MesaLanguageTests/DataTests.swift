import Foundation
import Testing
import MesaLanguage
import MesaTensor
import MesaTraining

@Suite struct DataTests {
    @Test func tokenizerRoundTripsTextWithMultibyteCharacters() throws {
        let text = try String(contentsOfFile: tinyCorpusPath, encoding: .utf8)
        let bytes = ByteTokenizer.encode(text)
        #expect(bytes.count == text.utf8.count && bytes.count > 3000)
        #expect(ByteTokenizer.decode(bytes) == text)
        // λ is two bytes, → three, 😀 four: a cut inside one waits for the rest.
        for (s, width) in [("λ", 2), ("→", 3), ("😀", 4)] {
            let b = ByteTokenizer.encode("a" + s)
            #expect(b.count == 1 + width)
            for cut in 2..<b.count { #expect(ByteTokenizer.completePrefix(Array(b[..<cut])) == 1) }
            #expect(ByteTokenizer.completePrefix(b) == b.count)
        }
        #expect(Set(bytes).count > 40)
    }

    @Test func corpusSplitIsDeterministicAndCoversEveryFile() throws {
        let dir = temporaryDirectory()
        let a = dir.appendingPathComponent("a.txt"), b = dir.appendingPathComponent("sub/b.txt")
        try FileManager.default.createDirectory(at: b.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(String(repeating: "alpha ", count: 100).utf8).write(to: a)
        try Data(String(repeating: "beta ", count: 40).utf8).write(to: b)
        try Data([0x00, 0x01, 0xFF]).write(to: dir.appendingPathComponent("index.dat"))
        let c1 = try Corpus(paths: [dir.path], validationFraction: 0.1)
        let c2 = try Corpus(paths: [dir.path], validationFraction: 0.1)
        #expect(c1.files.map(\.path) == [a.path, b.path])
        #expect(c1.skipped.count == 1 && c1.skipped[0].path.hasSuffix("index.dat") && c1.skipped[0].reason.contains("byte 0"))
        #expect(c1.train == c2.train && c1.validation == c2.validation && c1.digest == c2.digest)
        // The last 10% of each file: 60 bytes of a, 20 of b.
        #expect(c1.validation.count == 80 && c1.train.count == 720)
        #expect(ByteTokenizer.decode(Array(c1.validation.prefix(60))) == String(repeating: "alpha ", count: 10))
        // A change to a file is detected against the recorded digest.
        let settings = c1.settings(paths: [dir.path], validationFraction: 0.1)
        try Data(String(repeating: "gamma ", count: 100).utf8).write(to: a)
        #expect(throws: CorpusError.self) { try Corpus(settings: settings) }
    }

    @Test func badCorporaAreRefusedWithTheFileNamed() throws {
        let dir = temporaryDirectory()
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        let missing = dir.appendingPathComponent("nope.txt").path
        #expect(message { _ = try Corpus(paths: [missing]) }.contains(missing))
        let empty = dir.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        #expect(message { _ = try Corpus(paths: [empty.path]) }.contains("holds no text"))
        let latin1 = dir.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x20, 0x6F, 0x6B]).write(to: latin1)  // "café ok" in Latin-1
        let m = message { _ = try Corpus(paths: [latin1.path]) }
        #expect(m.contains(latin1.path) && m.contains("byte offset 3"))
        let small = dir.appendingPathComponent("small.txt")
        try Data(String(repeating: "x", count: 100).utf8).write(to: small)
        let c = try Corpus(paths: [small.path])
        let tooSmall = message { try c.check(length: 256) }
        #expect(tooSmall.contains("smaller than one context") && tooSmall.contains("257"))
        #expect(message { _ = try Corpus(paths: []) }.contains("--corpus"))
    }

    @Test func batchesArePureFunctionsOfSeedAndStep() throws {
        let config = try tinyRunConfig()
        let corpus = try Corpus(paths: [tinyCorpusPath])
        let batches = try TextBatches(corpus: corpus, config: config)
        let a = batches.trainingBatch(step: 5), b = batches.trainingBatch(step: 5), c = batches.trainingBatch(step: 6)
        #expect(a.inputs.shape == [4, 16, 1] && a.inputs.doubles == b.inputs.doubles && a.inputs.doubles != c.inputs.doubles)
        // Targets are the inputs shifted by one byte, and every window is text of the training part.
        let inputs = TextBatches.ids(a.inputs), targets = TextBatches.ids(a.targets)
        for w in 0..<4 {
            for t in 0..<15 { #expect(targets[w * 16 + t] == inputs[w * 16 + t + 1]) }
            let window = (0..<16).map { UInt8(inputs[w * 16 + $0]) }
            let text = corpus.train
            #expect((0...(text.count - 16)).contains { s in Array(text[s..<(s + 16)]) == window })
        }
        #expect(batches.testBatch().inputs.doubles == batches.testBatch().inputs.doubles)
    }
}
