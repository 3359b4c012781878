import MesaNN
import MesaTasks
import MesaTensor

/// The per-head products a linear layer's algorithm is read from (SPEC §5.2):
/// W_Kᵀ W_Q [D, D] (rows: key coordinates, columns: query coordinates) and P W_V [D, D]
/// (rows: output coordinates, columns: value coordinates), in Double.
public struct HeadProducts: Sendable {
    public let width: Int
    public let keyQuery: [Double]
    public let projectionValue: [Double]

    public static func of(_ attention: SelfAttention) -> [HeadProducts] {
        let d = attention.projection.shape[0]
        precondition(attention.query.shape[1] == d, "head products need queries and keys of the residual width")
        return (0..<attention.heads).map { h in
            HeadProducts(width: d, keyQuery: attention.keyQueryProduct(head: h),
                         projectionValue: attention.projectionValueProduct(head: h))
        }
    }

    /// The n×n block (row block r, column block c) of a D×D matrix.
    public static func block(_ m: [Double], width: Int, n: Int, _ r: Int, _ c: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { out[i * n + j] = m[(r * n + i) * width + c * n + j] } }
        return out
    }

    /// tr(block)/n: the scalar a block holds when it is a multiple of the identity.
    public static func blockScale(_ m: [Double], width: Int, n: Int, _ r: Int, _ c: Int) -> Double {
        (0..<n).map { m[(r * n + $0) * width + c * n + $0] }.reduce(0, +) / Double(n)
    }
}

/// How closely a head follows [VO] Prop. 1 (GD-1): W_KᵀW_Q concentrated in the block that
/// pairs keys' s_{t'−1} with queries' s_t, P W_V in the block mapping values' s_{t'} to the
/// prediction, each block a multiple of the identity.
public struct PropositionOneStructure: Codable, Sendable {
    /// Share of ‖W_KᵀW_Q‖²_F in the (key s_{t'−1}, query s_t) blocks.
    public let keyQueryBlockShare: Double
    /// Share of ‖P W_V‖²_F in the (output prediction, value s_{t'}) blocks.
    public let projectionValueBlockShare: Double
    /// Share of those blocks' squared norm on their diagonals (1 for c·I).
    public let keyQueryDiagonalShare: Double
    public let projectionValueDiagonalShare: Double
    /// The GD step size this head implements: (tr of the KQ block / n) · (tr of the PV block / n).
    public let stepSize: Double

    public init(_ p: HeadProducts, tokens: TokenConstruction, n: Int) {
        let signals = tokens.blockSignals ?? []
        let d = p.width
        func share(_ m: [Double], rows: [Int], cols: [Int]) -> (block: Double, diagonal: Double) {
            let total = m.map { $0 * $0 }.reduce(0, +)
            var inBlock = 0.0, onDiagonal = 0.0
            for r in rows {
                for c in cols {
                    let b = HeadProducts.block(m, width: d, n: n, r, c)
                    inBlock += b.map { $0 * $0 }.reduce(0, +)
                    onDiagonal += (0..<n).map { b[$0 * n + $0] * b[$0 * n + $0] }.reduce(0, +)
                }
            }
            return (total > 0 ? inBlock / total : 0, inBlock > 0 ? onDiagonal / inBlock : 0)
        }
        let previous = signals.indices.filter { signals[$0] == .previous }
        let current = signals.indices.filter { signals[$0] == .current }
        let kq = share(p.keyQuery, rows: previous, cols: current)
        let pv = share(p.projectionValue, rows: [0], cols: current)
        keyQueryBlockShare = kq.block
        keyQueryDiagonalShare = kq.diagonal
        projectionValueBlockShare = pv.block
        projectionValueDiagonalShare = pv.diagonal
        let kqScale = previous.flatMap { r in current.map { c in HeadProducts.blockScale(p.keyQuery, width: d, n: n, r, c) } }.reduce(0, +)
        let pvScale = current.map { HeadProducts.blockScale(p.projectionValue, width: d, n: n, 0, $0) }.reduce(0, +)
        stepSize = kqScale * pvScale
    }
}

/// RevAlg-1 (SPEC §4): the one-layer algorithm with 6 scalars per head read off the trained
/// weights' blocks:
/// ŝ_{t+1} = Σ_h Σ_{t'≤t} (a s_tᵀs_{t'} + e s_tᵀs_{t'−1} + b s_{t−1}ᵀs_{t'} + g s_{t−1}ᵀs_{t'−1})
///                        (p₁ s_{t'} + p₂ s_{t'−1}).
public struct RevAlgOne: Codable, Sendable {
    public struct Head: Codable, Sendable {
        public let a: Double, e: Double, b: Double, g: Double, p1: Double, p2: Double
        public init(a: Double, e: Double, b: Double, g: Double, p1: Double, p2: Double) {
            self.a = a; self.e = e; self.b = b; self.g = g; self.p1 = p1; self.p2 = p2
        }
    }

    public let heads: [Head]

    /// Reads the scalars: each is tr(block)/n summed over the blocks that carry its pair of
    /// signals (s_t appears in two blocks of the unmasked construction).
    public init(_ products: [HeadProducts], tokens: TokenConstruction, n: Int) {
        let signals = tokens.blockSignals ?? []
        func blocks(_ s: TokenSignal) -> [Int] { signals.indices.filter { signals[$0] == s } }
        heads = products.map { p in
            func kq(key: TokenSignal, query: TokenSignal) -> Double {
                blocks(key).flatMap { r in blocks(query).map { c in HeadProducts.blockScale(p.keyQuery, width: p.width, n: n, r, c) } }
                    .reduce(0, +)
            }
            func pv(_ value: TokenSignal) -> Double {
                blocks(value).map { HeadProducts.blockScale(p.projectionValue, width: p.width, n: n, 0, $0) }.reduce(0, +)
            }
            return Head(a: kq(key: .current, query: .current), e: kq(key: .previous, query: .current),
                        b: kq(key: .current, query: .previous), g: kq(key: .previous, query: .previous),
                        p1: pv(.current), p2: pv(.previous))
        }
    }

    public func predictions(_ s: StateSequences) -> [Double] {
        let n = s.dimension
        var out = [Double](repeating: 0, count: s.inputs.count)
        func dot(_ b: Int, _ t1: Int, _ t2: Int) -> Double {
            var v = 0.0
            for i in 0..<n { v += s.state(b, t1, i) * s.state(b, t2, i) }
            return v
        }
        for b in 0..<s.batch {
            for t in 1...s.length {
                for tp in 1...t {
                    let cc = dot(b, t, tp), cp = dot(b, t, tp - 1), pc = dot(b, t - 1, tp), pp = dot(b, t - 1, tp - 1)
                    var w1 = 0.0, w2 = 0.0
                    for h in heads {
                        let score = h.a * cc + h.e * cp + h.b * pc + h.g * pp
                        w1 += score * h.p1
                        w2 += score * h.p2
                    }
                    for i in 0..<n {
                        out[(b * s.length + t - 1) * n + i] += w1 * s.state(b, tp, i) + w2 * s.state(b, tp - 1, i)
                    }
                }
            }
        }
        return out
    }
}
