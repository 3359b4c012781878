import MesaTasks
import MesaTensor

/// Few-shot regression sequences (SPEC §1 task 6) laid out with learned tokens (SPEC §6):
/// `prefix` learned tokens first, then for each of `tasks` teachers in a row (2: continual
/// learning) `pairs` pairs x_i, y_i, each followed by the learned EOS token when `eos`:
///
///     [p_1 … p_P, x_1, y_1, (eos), x_2, y_2, (eos), …]
///
/// The learned tokens are states, elements of the sequence like the x_i and y_i, so they enter
/// the model through its own token construction: a raw-token model embeds them as it embeds
/// s_t; a constructed-token model sees an EOS in the s_t slots of its position and in the
/// s_{t−1} slot of the next (the x that follows sees the EOS before it, not y_i). The loss
/// scores only the predictions of the y_i, made at the x_i.
public struct PromptLayout: Codable, Equatable, Sendable {
    /// Learned tokens before the first pair.
    public var prefix: Int
    /// A learned token after every y_i.
    public var eos: Bool
    /// Pairs per teacher.
    public var pairs: Int
    /// Teachers in a row, each for `pairs` pairs (1; 2 for continual learning).
    public var tasks: Int

    public init(prefix: Int = 0, eos: Bool = false, pairs: Int, tasks: Int = 1) {
        self.prefix = prefix
        self.eos = eos
        self.pairs = pairs
        self.tasks = tasks
    }

    /// What one position of the laid-out sequence holds.
    public enum Slot: Equatable, Sendable {
        /// Learned token `row` (prefix rows 0..<prefix, then the EOS).
        case learned(row: Int)
        /// Element `index` of the plain sequence x_1, y_1, x_2, … (x_i at 2(i−1), y_i at 2i−1).
        case data(index: Int)
    }

    /// Checks the fields; the message names the one to change.
    public func validate() throws {
        if pairs < 1 { throw ConfigError.invalid("layout.pairs must be at least 1, got \(pairs)") }
        if tasks < 1 { throw ConfigError.invalid("layout.tasks must be at least 1, got \(tasks)") }
        if prefix < 0 { throw ConfigError.invalid("layout.prefix must be ≥ 0, got \(prefix)") }
    }

    /// Learned tokens: the prefix's, then the EOS.
    public var learnedRows: Int { prefix + (eos ? 1 : 0) }
    /// Elements of the plain sequence: 2 per pair.
    public var dataLength: Int { 2 * pairs * tasks }
    /// Positions of the laid-out sequence.
    public var length: Int { prefix + dataLength + (eos ? pairs * tasks : 0) }

    /// Every position in order.
    public var slots: [Slot] {
        var s = (0..<prefix).map { Slot.learned(row: $0) }
        for i in 0..<dataLength {
            s.append(.data(index: i))
            if eos && i % 2 == 1 { s.append(.learned(row: prefix)) }
        }
        return s
    }

    /// The positions of x_1, x_2, … (all teachers in order): where the y_i are predicted.
    public var queryPositions: [Int] {
        slots.indices.filter { if case let .data(i) = slots[$0] { return i % 2 == 0 } else { return false } }
    }

    /// The positions that hold learned row `row`.
    public func positions(ofRow row: Int) -> [Int] {
        slots.indices.filter { slots[$0] == .learned(row: row) }
    }

    /// The plain sequences of a batch: x_1, y_1, … with a fresh W per teacher, from
    /// (seed, purpose, step, sequence index) like every task; one teacher is exactly
    /// `FewShotRegression`'s sequence (the one `mesa analyze fewshot` scores).
    public func dataBatch(dimension n: Int, size: Int, seed: UInt64, purpose: RandomPurpose, step: Int = 0,
                          dtype: DType = .float32) -> SequenceBatch {
        TeachersInARow(dimension: n, perTeacher: 2 * pairs, teachers: tasks)
            .batch(size: size, length: dataLength, seed: seed, purpose: purpose, step: step, dtype: dtype)
    }

    /// A plain batch laid out: states [B, length, n] with zeros where the learned tokens go,
    /// targets y_i at the x_i's positions (zeros elsewhere) and the loss mask scoring only those.
    public func laidOut(_ plain: SequenceBatch) -> SequenceBatch {
        precondition(plain.length == dataLength, "layout of \(dataLength) data positions given a batch of length \(plain.length)")
        let (bSize, n, len) = (plain.batchSize, plain.dimension, length)
        let inputs = plain.inputs.doubles, targets = plain.targets.doubles
        var s = [Double](repeating: 0, count: bSize * len * n), y = s
        var mask = [Double](repeating: 0, count: bSize * len)
        for (p, slot) in slots.enumerated() {
            guard case let .data(i) = slot else { continue }
            for b in 0..<bSize {
                let to = (b * len + p) * n, from = (b * dataLength + i) * n
                for j in 0..<n { s[to + j] = inputs[from + j] }
                if i % 2 == 0 {
                    for j in 0..<n { y[to + j] = targets[from + j] }
                    mask[b * len + p] = 1
                }
            }
        }
        let dtype = plain.inputs.dtype
        return SequenceBatch(inputs: Tensor(shape: [bSize, len, n], s, dtype: dtype),
                             targets: Tensor(shape: [bSize, len, n], y, dtype: dtype),
                             lossMask: Tensor(shape: [bSize, len], mask, dtype: dtype))
    }
}

/// `teachers` few-shot regression tasks in a row, `perTeacher` elements each, each with its
/// own W drawn from the same stream; what is asked for beyond the last teacher's elements
/// continues its sequence (the targets of the last position).
struct TeachersInARow: SequenceTask {
    let dimension: Int
    let perTeacher: Int
    let teachers: Int

    func sequence(count: Int, stream: inout RandomStream) -> [Double] {
        let task = FewShotRegression(dimension: dimension)
        var s: [Double] = []
        var left = count
        for k in 0..<teachers where left > 0 {
            let take = k == teachers - 1 ? left : min(perTeacher, left)
            s += task.sequence(count: take, stream: &stream)
            left -= take
        }
        return s
    }
}

extension TokenConstruction {
    /// Where state s_t of a sequence of `length` appears in the tokens, as (position, first
    /// column) of n-wide blocks: raw (t, 0); constructed (t, n), (t, 2n) and s_{t−1} of the next
    /// position, (t + 1, 3n); masked (t, 2n), (t + 1, 3n).
    public func appearances(ofStateAt t: Int, length: Int, dimension n: Int) -> [(position: Int, column: Int)] {
        let next = t + 1 < length ? [(position: t + 1, column: 3 * n)] : []
        switch self {
        case .raw: return [(t, 0)]
        case .constructed: return [(t, n), (t, 2 * n)] + next
        case .constructedMasked: return [(t, 2 * n)] + next
        }
    }
}
