import MesaTensor

/// How states become the model's input tokens (SPEC §1).
public enum TokenConstruction: String, Codable, Sendable, CaseIterable {
    /// e_t = [0_n, s_t, s_t, s_{t−1}] ∈ R⁴ⁿ with s_0 = 0; the prediction is read from the
    /// first n coordinates of the output.
    case constructed
    /// The one-layer experiment's tokens: e_t = [0_n, 0_n, s_t, s_{t−1}].
    case constructedMasked = "constructed-masked"
    /// e_t = s_t, mapped by a learned dense layer n → D and read out by one D → n.
    case raw

    /// Token width for observed dimension n (raw tokens are embedded by the model).
    public func width(dimension n: Int) -> Int { self == .raw ? n : 4 * n }

    /// Builds tokens [B, T, width] from states [B, T, n].
    public func tokens(from states: Tensor) -> Tensor {
        if self == .raw { return states }
        precondition(states.shape.count == 3, "tokens: states must be [B, T, n], got \(states.shape)")
        let (bSize, tLen, n) = (states.shape[0], states.shape[1], states.shape[2])
        let masked = self == .constructedMasked
        func run<S: TensorScalar>(_: S.Type) -> Tensor {
            // Block copies, sequences split across the workers (a scalar loop on the calling thread
            // was ~2% of a linear-1 step); copies, so the bytes do not depend on the split.
            Tensor(shape: [bSize, tLen, 4 * n], of: S.self) { out in
                states.withUnsafeBufferPointer(as: S.self) { states in
                    let e = out.baseAddress!, s = states.baseAddress!
                    Parallel.forChunks(bSize, grain: 16) { sequences in
                        for b in sequences {
                            for t in 0..<tLen {
                                let row = e + (b * tLen + t) * 4 * n, cur = s + (b * tLen + t) * n
                                row.update(repeating: 0, count: n)
                                if masked { (row + n).update(repeating: 0, count: n) } else { (row + n).update(from: cur, count: n) }
                                (row + 2 * n).update(from: cur, count: n)
                                if t == 0 { (row + 3 * n).update(repeating: 0, count: n) } else { (row + 3 * n).update(from: cur - n, count: n) }
                            }
                        }
                    }
                }
            }
        }
        return states.dtype == .float32 ? run(Float.self) : run(Double.self)
    }
}

/// What an n-wide block of a constructed token holds (for reading weight matrices block by
/// block, SPEC §4–5).
public enum TokenSignal: String, Sendable {
    case zero
    /// s_t
    case current
    /// s_{t−1}
    case previous
}

extension TokenConstruction {
    /// The signal of each n-block of a token, in order (nil for raw tokens).
    public var blockSignals: [TokenSignal]? {
        switch self {
        case .constructed: return [.zero, .current, .current, .previous]
        case .constructedMasked: return [.zero, .zero, .current, .previous]
        case .raw: return nil
        }
    }
}
