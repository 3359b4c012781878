import MesaTensor

/// Shapes of a multi-head attention call: queries and keys [B, T, H·d_k], values and
/// outputs [B, T, H·d_v], head h in columns h·d..<(h+1)·d.
public struct AttentionGeometry: Equatable, Sendable {
    public let batch: Int, length: Int, heads: Int, keySize: Int, valueSize: Int

    public init(q: Tensor, k: Tensor, v: Tensor, heads: Int) {
        precondition(heads > 0, "attention needs at least one head")
        precondition(q.shape.count == 3 && q.shape == k.shape && v.shape.count == 3
                     && v.shape[0] == q.shape[0] && v.shape[1] == q.shape[1],
                     "attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, T, H·d]")
        precondition(q.shape[2] % heads == 0 && v.shape[2] % heads == 0,
                     "attention: widths q \(q.shape[2]) / v \(v.shape[2]) are not divisible by \(heads) heads")
        precondition(q.dtype == k.dtype && k.dtype == v.dtype, "attention: q, k, v dtypes differ")
        batch = q.shape[0]
        length = q.shape[1]
        self.heads = heads
        keySize = q.shape[2] / heads
        valueSize = v.shape[2] / heads
    }

    /// Row stride of q and k, of v and the output.
    var qkStride: Int { heads * keySize }
    var vStride: Int { heads * valueSize }
    /// Offsets of head h of sequence b in q/k and in v/out.
    @inline(__always) func qkOffset(_ job: Int) -> Int { (job / heads) * length * qkStride + (job % heads) * keySize }
    @inline(__always) func vOffset(_ job: Int) -> Int { (job / heads) * length * vStride + (job % heads) * valueSize }
    /// Number of (sequence, head) pairs: the unit of parallel work.
    var jobs: Int { batch * heads }
    /// Elements of per-worker scratch the causal kernels need (a generous bound: eight
    /// panels of the largest shape).
    var panelCapacity: Int {
        let t = (length + 7) & ~7, d = (max(keySize, valueSize) + 7) & ~7
        return 8 * max(t * d, t * t) + 64
    }
}
