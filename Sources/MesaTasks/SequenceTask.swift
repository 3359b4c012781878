import MesaTensor

/// A distribution over sequences s_1, s_2, … ∈ Rⁿ, each with its own teacher (SPEC §1).
/// A task draws one sequence from a random stream; which stream is the caller's business,
/// so that the batch at training step k is a pure function of (seed, k).
public protocol SequenceTask: Sendable {
    /// Observed dimension n.
    var dimension: Int { get }
    /// States s_1 … s_count, row-major [count, n].
    func sequence(count: Int, stream: inout RandomStream) -> [Double]
    /// What `batch(size:length:seed:purpose:step:dtype:)` returns; a task may give a faster
    /// path that returns the same bytes as `referenceBatch` (default: `referenceBatch`).
    func makeBatch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
                   dtype: DType) -> SequenceBatch
}

/// Inputs s_1…s_T and targets s_2…s_{T+1} of a batch of sequences.
public struct SequenceBatch {
    /// [B, T, n]
    public let inputs: Tensor
    /// [B, T, n]: the next state at every position.
    public let targets: Tensor
    /// [B, T]: the weight of each position in the loss (1: scored, 0: not), or nil to score
    /// every position (few-shot regression and language modelling score only some).
    public var lossMask: Tensor?

    public var batchSize: Int { inputs.shape[0] }
    public var length: Int { inputs.shape[1] }
    public var dimension: Int { inputs.shape[2] }

    public init(inputs: Tensor, targets: Tensor, lossMask: Tensor? = nil) {
        precondition(inputs.shape == targets.shape && inputs.shape.count == 3,
                     "a batch needs inputs and targets of one shape [B, T, n], got \(inputs.shape) and \(targets.shape)")
        if let m = lossMask {
            precondition(m.shape == Array(inputs.shape.prefix(2)), "a loss mask is [B, T] = \(Array(inputs.shape.prefix(2))), got \(m.shape)")
        }
        self.inputs = inputs
        self.targets = targets
        self.lossMask = lossMask
    }
}

extension SequenceTask {
    /// B sequences of T inputs (and T targets) from streams (seed, purpose, step, index b),
    /// generated in parallel; the result does not depend on the number of threads.
    public func batch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int = 0,
                      dtype: DType = .float32) -> SequenceBatch {
        makeBatch(size: size, length: length, seed: seed, purpose: purpose, step: step, dtype: dtype)
    }

    public func makeBatch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
                          dtype: DType) -> SequenceBatch {
        referenceBatch(size: size, length: length, seed: seed, purpose: purpose, step: step, dtype: dtype)
    }

    /// The batch from `sequence(count:stream:)`, one stream per sequence: the definition every
    /// fast `makeBatch` is tested against.
    public func referenceBatch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int = 0,
                               dtype: DType = .float32) -> SequenceBatch {
        precondition(size > 0 && length > 0, "batch size and sequence length must be positive")
        let n = dimension, per = length * n
        var inputs = [Double](repeating: 0, count: size * per)
        var targets = inputs
        inputs.withUnsafeMutableBufferPointer { ip in
            targets.withUnsafeMutableBufferPointer { tp in
                Parallel.forChunks(size) { range in
                    for b in range {
                        var stream = RandomStream(seed: seed, purpose: purpose, step: step, index: b)
                        let s = sequence(count: length + 1, stream: &stream)
                        for i in 0..<per {
                            ip[b * per + i] = s[i]
                            tp[b * per + i] = s[n + i]
                        }
                    }
                }
            }
        }
        return SequenceBatch(inputs: Tensor(shape: [size, length, n], inputs, dtype: dtype),
                             targets: Tensor(shape: [size, length, n], targets, dtype: dtype))
    }
}
