import Foundation
import Testing
import MesaLanguage
import MesaNN
import MesaTensor
import MesaTraining

@Suite struct ModelTests {
    @Test func languageModelGradientsMatchFiniteDifferences() throws {
        let model = try LanguageModel(config: tinyModelConfig([.softmax, .mesa], mlp: true, initStd: 0.3), seed: 1, dtype: .float64)
        let ids: [Int32] = [72, 101, 108, 108, 111, 32, 108, 108]
        let targets: [Int32] = [101, 108, 108, 111, 32, 108, 108, 33]
        let params = model.parameters.map(\.variable)
        let errors = GradCheck.relativeErrors(parameters: params) {
            softmaxCrossEntropy(model.logits(ids, batch: 2, length: 4), targets: targets)
        }
        for (p, e) in zip(model.parameters, errors) { #expect(e < 1e-5, "\(p.name): \(e)") }
    }

    /// Cached decoding (KV cache, linear state, mesa state and inverse) gives the full forward's
    /// logits at every position, for every kind after the softmax layer, with and without MLPs.
    @Test func cachedDecodingEqualsTheFullForward() throws {
        let text = Array(ByteTokenizer.encode("Sphinx of black quartz, judge my vow."))
        for (kind, mlp, forget) in [(LayerKind.softmax, false, 1.0), (.linear, true, 1.0), (.mesa, false, 1.0), (.mesa, true, 0.95)] {
            let model = try LanguageModel(config: tinyModelConfig([.softmax, kind, kind], mlp: mlp, forget: forget, initStd: 0.3),
                                          seed: 2, dtype: .float64)
            if kind == .mesa { model.body.blocks[1].attention.lambda!.assign(Tensor(shape: [2], [0.4, 2])) }
            let full = model.logits(text.map(Int32.init), batch: 1, length: text.count).value.doubles
            let decoder = try CachedDecoder(model)
            var worst = 0.0
            for (t, byte) in text.enumerated() {
                let logits = decoder.step(byte)
                for j in 0..<256 { worst = max(worst, abs(logits[j] - full[t * 256 + j])) }
            }
            #expect(worst < 1e-10, "\(kind) mlp \(mlp) γ \(forget): largest difference \(worst)")
            #expect(decoder.position == text.count)
        }
    }

    @Test func samplingIsSeededAndRefusesBadSettings() throws {
        let model = try LanguageModel(config: tinyModelConfig([.softmax, .linear], initStd: 0.3), seed: 3)
        let sampler = try Sampler(model: model, context: 16)
        let prompt = ByteTokenizer.encode("The ")
        let a = try sampler.generate(prompt: prompt, tokens: 40, settings: .init(temperature: 1, topK: 5, seed: 7))
        let b = try sampler.generate(prompt: prompt, tokens: 40, settings: .init(temperature: 1, topK: 5, seed: 7))
        let c = try sampler.generate(prompt: prompt, tokens: 40, settings: .init(temperature: 1, topK: 5, seed: 8))
        #expect(a == b && a != c && a.count == 40)
        // Greedy decoding picks the full forward's most likely byte.
        let greedy = try sampler.generate(prompt: prompt, tokens: 1, settings: .init(temperature: 0))
        let logits = model.logits(prompt.map(Int32.init), batch: 1, length: prompt.count).value.doubles.suffix(256)
        #expect(Int(greedy[0]) == Array(logits).indices.max { Array(logits)[$0] < Array(logits)[$1] }!)
        // Top-k 1 is greedy whatever the temperature.
        #expect(try sampler.generate(prompt: prompt, tokens: 5, settings: .init(temperature: 2, topK: 1, seed: 1))
                == sampler.generate(prompt: prompt, tokens: 5, settings: .init(temperature: 0)))
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        #expect(message { try sampler.generate(prompt: [UInt8](repeating: 65, count: 17), tokens: 1, settings: .init()) }.contains("longer than the model's context"))
        #expect(message { try sampler.generate(prompt: prompt, tokens: 1, settings: .init(temperature: -1)) }.contains("--temperature"))
        #expect(message { try sampler.generate(prompt: prompt, tokens: 1, settings: .init(topK: -2)) }.contains("--top-k"))
    }
}
