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
        let chunked = MemoryEstimate(c).bytes
        let (b, h, t) = (Double(max(c.batchSize, c.evalBatchSize)), Double(c.model.heads), 800.0)
        let withTSquared = chunked + 4 * Double(c.model.layers.count) * 2 * h * t * t * b
        #expect(chunked < withTSquared / 5, "\(MemoryEstimate.format(chunked)) vs \(MemoryEstimate.format(withTSquared))")
        c.length = 50
        #expect(MemoryEstimate(c).bytes < chunked)
    }
}
