import Foundation
import MesaTensor

/// Text generation from a language model with cached decoding: each new byte costs one
/// position (`CachedDecoder`). When the context is full, the state is rebuilt from the last
/// half of the context and generation goes on.
public struct Sampler {
    public struct Settings: Equatable {
        /// Logits are divided by τ; 0 picks the most likely byte.
        public var temperature: Double
        /// Draw among the k most likely bytes only (0: all).
        public var topK: Int
        public var seed: UInt64
        public init(temperature: Double = 0.8, topK: Int = 0, seed: UInt64 = 0) {
            self.temperature = temperature
            self.topK = topK
            self.seed = seed
        }
    }

    public let decoder: CachedDecoder
    public let context: Int

    public init(model: LanguageModel, context: Int) throws {
        decoder = try CachedDecoder(model)
        self.context = context
    }

    /// Checks the prompt and settings before anything is generated.
    public static func validate(prompt: [UInt8], tokens: Int, settings s: Settings, context: Int) throws {
        if prompt.count > context {
            throw SamplingError("the prompt is \(prompt.count) bytes, longer than the model's context of \(context) bytes; shorten it")
        }
        if !(s.temperature >= 0 && s.temperature.isFinite) {
            throw SamplingError("--temperature must be ≥ 0 (0: always the most likely byte), got \(s.temperature)")
        }
        if s.topK < 0 || s.topK > 256 { throw SamplingError("--top-k must lie in 0…256 (0: no limit), got \(s.topK)") }
        if tokens < 0 { throw SamplingError("--tokens must be ≥ 0, got \(tokens)") }
    }

    /// Generates `tokens` bytes after `prompt` (an empty prompt starts from a newline), handing
    /// each to `emit` as soon as it is drawn; returns them.
    @discardableResult
    public func generate(prompt: [UInt8], tokens: Int, settings: Settings, emit: (UInt8) -> Void = { _ in }) throws -> [UInt8] {
        try Self.validate(prompt: prompt, tokens: tokens, settings: settings, context: context)
        var history = prompt.isEmpty ? [UInt8(ascii: "\n")] : prompt
        decoder.reset()
        var logits: [Double] = []
        for b in history { logits = decoder.step(b) }
        var out: [UInt8] = []
        for i in 0..<tokens {
            let next = Self.draw(logits, settings: settings, index: i)
            out.append(next)
            emit(next)
            history.append(next)
            if decoder.position >= context {
                decoder.reset()
                for b in history.suffix(context / 2) { logits = decoder.step(b) }
            } else {
                logits = decoder.step(next)
            }
        }
        return out
    }

    /// A byte from logits under the settings; draw `index` reads stream (seed, experiment, index).
    public static func draw(_ logits: [Double], settings s: Settings, index: Int) -> UInt8 {
        if s.temperature == 0 { return UInt8(logits.indices.max { logits[$0] < logits[$1] }!) }
        var order = Array(logits.indices)
        if s.topK > 0 && s.topK < logits.count {
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            order = Array(order.prefix(s.topK))
        }
        let m = order.map { logits[$0] }.max()!
        let weights = order.map { Foundation.exp((logits[$0] - m) / s.temperature) }
        var stream = RandomStream(seed: s.seed, purpose: .experiment, step: 0, index: index)
        var u = stream.uniform() * weights.reduce(0, +)
        for (j, w) in zip(order, weights) {
            u -= w
            if u < 0 { return UInt8(j) }
        }
        return UInt8(order.last!)
    }
}

public struct SamplingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
