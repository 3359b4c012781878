import Testing
import MesaNN
import MesaTraining

/// The automatic choice of the chunked forms (ChunkedMix.swift) at the default presets, and
/// the memory estimate that follows it.
@Suite struct ChunkedPresetTests {
    static let presets = ["linear-1", "linear-2", "softmax-7", "hybrid-mesa", "full-mesa"]

    /// At the presets' T 50 every layer runs in the quadratic form, as before the chunked forms
    /// existed, so their runs' bytes are unchanged; at T 800 linear and mesa layers run chunked.
    @Test(arguments: presets)
    func presetsStayQuadraticAtTheirLength(name: String) throws {
        let c = try Presets.config(name)
        #expect(c.length == 50)
        let (dk, dv) = (c.model.keySize, c.model.valueSize)
        for κ in [ChunkedMix.crossoverFactor, ChunkedMix.mesaCrossoverFactor] {
            #expect(!ChunkedMix.prefersChunked(length: c.length, keySize: dk, valueSize: dv, crossoverFactor: κ))
            #expect(ChunkedMix.prefersChunked(length: 800, keySize: dk, valueSize: dv, crossoverFactor: κ))
        }
        for kind in c.model.layers where kind == .linear {
            #expect(AttentionSpec(kind: kind, heads: c.model.heads).core.keepsWeights(length: 50, keySize: dk, valueSize: dv))
            #expect(!AttentionSpec(kind: kind, heads: c.model.heads).core.keepsWeights(length: 800, keySize: dk, valueSize: dv))
        }
    }

    /// The estimate drops the T² term of the layers that no longer keep T×T weights: linear-2
    /// at T 800 was 46 GiB with it.
    @Test func memoryEstimateFollowsTheForm() throws {
        var c = try Presets.config("linear-2")
        c.length = 800
        let estimate = MemoryEstimate(c, splitsBatches: true, workers: 2)
        let chunked = estimate.bytes
        let (b, h, t) = (Double(estimate.trainingSequences), Double(c.model.heads), 800.0)
        let tSquared = 4 * Double(c.model.layers.count) * 2 * h * t * t * b   // the kept weights alone
        #expect(chunked < tSquared, "\(MemoryEstimate.format(chunked)) vs \(MemoryEstimate.format(tSquared))")
        c.length = 50
        #expect(MemoryEstimate(c, splitsBatches: true, workers: 2).bytes < chunked)
    }

    /// The sequences counted: a micro-batch per lane (one piece at a time once the workers are
    /// twice the pieces), a held-out chunk per lane; without splitting, the whole batches.
    @Test func memoryEstimateCountsTheSequencesInFlight() throws {
        let c = try Presets.config("softmax-7")   // B 256 in 4 pieces of 64, held-out 1 024 in chunks of 64
        for (workers, training, evaluation) in [(1, 64, 64), (2, 128, 128), (3, 192, 192), (8, 64, 512)] {
            let e = MemoryEstimate(c, splitsBatches: true, workers: workers)
            #expect((e.trainingSequences, e.evaluationSequences) == (training, evaluation), "\(workers) workers")
        }
        let whole = MemoryEstimate(c, splitsBatches: false, workers: 2)
        #expect((whole.trainingSequences, whole.evaluationSequences) == (256, 1024))
        #expect(whole.bytes > 3 * MemoryEstimate(c, splitsBatches: true, workers: 2).bytes)
    }
}
