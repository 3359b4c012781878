import CSupport
import MesaTensor

// The whole attention sublayer of SPEC §2 as one operation, computed tile by tile:
//   [Q K V E] = [X_qk W_Qᵀ, X_qk W_Kᵀ, X W_Vᵀ, X W_Eᵀ]   (one or two BLAS products per tile;
//                                                          E: the core's extra inputs, if any)
//   (Q, K ← per-head L2-normalized, optionally)
//   O_h = core(Q_h, K_h, V_h, E_h)                        (per sequence and head: the layer
//                                                          kind's `AttentionCore`)
//   Y = O Pᵀ
// A tile is a few sequences (~512 rows), so its Q, K, V and their gradients stay in cache
// between the products and the cores. The forward keeps [Q K V E] and O for the backward
// (cheaper to store than to recompute; an inference forward without a trace keeps neither, one
// tile's in a reused buffer); most cores recompute their T×T scores. When the
// query/key input is the residual stream itself, the projections are one product (and so
// are their gradients). The composition of separate operations (`SelfAttention.composed`)
// computes the same function and is the reference this is tested against.
//
// Forward and backward are flat lists of named steps over a struct of buffers allocated
// once per call (llm.c's shape): `LayerForwardPass` and `LayerBackwardPass`.

/// What a sublayer's attention computes (SPEC §2).
public struct AttentionSpec: Equatable, Sendable {
    public var kind: LayerKind
    public var heads: Int
    /// The mesa-layer's forget factor γ ∈ (0, 1] (1: none).
    public var forget: Double
    /// L2-normalize each head's queries and keys.
    public var normalizeQueryKey: Bool
    /// The form of the causal mix for cores that have two (linear, mesa; ChunkedMix.swift):
    /// automatic by default, forced by tests and benchmarks.
    public var form: AttentionForm

    public init(kind: LayerKind, heads: Int, forget: Double = 1, normalizeQueryKey: Bool = false,
                form: AttentionForm = .automatic) {
        self.kind = kind
        self.heads = heads
        self.forget = forget
        self.normalizeQueryKey = normalizeQueryKey
        self.form = form
    }

    /// The core of this kind, configured by this spec.
    public var core: any AttentionCore {
        guard let type = kind.coreType else {
            preconditionFailure("unknown layer kind '\(kind)'; known: \(AttentionKinds.names.joined(separator: ", "))")
        }
        return type.init(self)
    }
}

/// The operands of one attention sublayer call. Weights are [out, in]: W_Q, W_K
/// [H·d_k, D_qk], W_V [H·d_v, D], W_E [H·e, D] (the core's extra projection), P [D, H·d_v];
/// one tensor [H] per head parameter of the core.
public struct AttentionLayerInputs {
    public let x: Tensor, qk: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, p: Tensor
    public let extraWeight: Tensor?
    public let headParameters: [Tensor]

    public init(x: Tensor, queryKeyInput qk: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, p: Tensor,
                extraWeight: Tensor? = nil, headParameters: [Tensor] = []) {
        self.x = x
        self.qk = qk
        self.wq = wq
        self.wk = wk
        self.wv = wv
        self.p = p
        self.extraWeight = extraWeight
        self.headParameters = headParameters
    }

    /// [W_Q; W_K; W_V; W_E] for a shared input, else [W_Q; W_K] (the query/key product).
    func stackedQueryKeyWeights(shared: Bool) -> Tensor {
        shared ? Tensor.stackRows([wq, wk, wv] + (extraWeight.map { [$0] } ?? [])) : Tensor.stackRows([wq, wk])
    }

    /// [W_V; W_E] (the value product for a separate query/key input).
    var stackedValueWeights: Tensor { extraWeight.map { Tensor.stackRows([wv, $0]) } ?? wv }
}

/// Sizes of one call.
public struct AttentionLayerShape {
    public let batch: Int, length: Int, width: Int, qkWidth: Int, heads: Int, keySize: Int, valueSize: Int
    /// The core's extra inputs per head.
    public let extraSize: Int
    public let parametersPerHead: Int
    /// True when queries, keys and values are all projected from the same input.
    public let sharedInput: Bool

    public init(_ spec: AttentionSpec, _ i: AttentionLayerInputs) {
        let (x, qk, wq, wk, wv, p, heads) = (i.x, i.qk, i.wq, i.wk, i.wv, i.p, spec.heads)
        precondition(x.shape.count == 3 && qk.shape.count == 3 && x.shape[0] == qk.shape[0] && x.shape[1] == qk.shape[1],
                     "attention layer: inputs \(x.shape) and \(qk.shape) must be [B, T, ·] with equal B, T")
        precondition(heads > 0 && wq.shape == wk.shape && wq.shape.count == 2 && wq.shape[0] % heads == 0,
                     "attention layer: W_Q \(wq.shape), W_K \(wk.shape) must be [H·d_k, D_qk] for \(heads) heads")
        precondition(wq.shape[1] == qk.shape[2], "attention layer: W_Q \(wq.shape) does not fit query/key input \(qk.shape)")
        precondition(wv.shape.count == 2 && wv.shape[1] == x.shape[2] && wv.shape[0] % heads == 0,
                     "attention layer: W_V \(wv.shape) does not fit input \(x.shape)")
        precondition(p.shape == [x.shape[2], wv.shape[0]], "attention layer: P \(p.shape) must be [D, H·d_v]")
        guard let core = spec.kind.coreType else {
            preconditionFailure("attention layer: unknown layer kind '\(spec.kind)'")
        }
        let extra = core.extraProjection?.widthPerHead ?? 0
        precondition((extra > 0) == (i.extraWeight != nil)
                     && (i.extraWeight.map { $0.shape == [heads * extra, x.shape[2]] } ?? true),
                     "attention layer: \(spec.kind) needs \(extra > 0 ? "an extra projection [\(heads * extra), \(x.shape[2])]" : "no extra projection")")
        precondition(i.headParameters.count == core.headParameters.count && i.headParameters.allSatisfy { $0.shape == [heads] },
                     "attention layer: \(spec.kind) needs \(core.headParameters.count) head parameter(s) of shape [\(heads)]")
        precondition(Set([x, qk, wq, wk, wv, p].map(\.dtype) + i.headParameters.map(\.dtype)).count == 1,
                     "attention layer: mixed dtypes")
        batch = x.shape[0]
        length = x.shape[1]
        width = x.shape[2]
        qkWidth = qk.shape[2]
        self.heads = heads
        keySize = wq.shape[0] / heads
        valueSize = wv.shape[0] / heads
        extraSize = extra
        parametersPerHead = core.headParameters.count
        sharedInput = x.sharesStorage(with: qk) && x.shape == qk.shape
    }

    /// Sequences per tile: about 512 rows.
    var tile: Int { max(1, min(batch, 512 / max(length, 1))) }
    var tiles: Int { (batch + tile - 1) / tile }
    var hk: Int { heads * keySize }
    var hv: Int { heads * valueSize }
    var he: Int { heads * extraSize }
    /// Row width of the [Q K V E] buffer.
    var qkvWidth: Int { 2 * hk + hv + he }
    /// Elements of the stacked projection weights ([W_Q; W_K; W_V; W_E], or [W_Q; W_K] and [W_V; W_E]).
    var projectionWeightCount: Int { sharedInput ? qkvWidth * width : 2 * hk * qkWidth + (hv + he) * width }
    var paddedLength: Int { roundUp8(length) }

    /// Head h of sequence `seq` (from `rows`, the first row of that sequence's tile) in a
    /// [Q K V E] buffer with row stride `qkvWidth`.
    @inline(__always)
    func head<S: TensorScalar>(_ h: Int, in rows: UnsafeMutablePointer<S>) -> HeadView<S> {
        HeadView(length: length, keySize: keySize, valueSize: valueSize, q: rows + h * keySize,
                 k: rows + hk + h * keySize, qkStride: qkvWidth, v: rows + 2 * hk + h * valueSize, vStride: qkvWidth,
                 extra: rows + 2 * hk + hv + h * extraSize, extraStride: qkvWidth)
    }
}

extension Tensor {
    /// Row-wise concatenation of matrices with equal column counts ([W_Q; W_K; W_V]): row-major
    /// storage, so the parts' elements one after another. (Three transposes and a column
    /// concatenation did this before, in both passes of every layer and micro-batch: 0.9% of a
    /// one-thread softmax-7 run, BENCHMARKS.md "Stop 19".)
    static func stackRows(_ parts: [Tensor]) -> Tensor {
        if parts.count == 1 { return parts[0] }
        let columns = parts[0].shape[1]
        precondition(parts.allSatisfy { $0.shape.count == 2 && $0.shape[1] == columns && $0.dtype == parts[0].dtype },
                     "stackRows: parts \(parts.map(\.shape)) must be matrices with equal column counts and dtypes")
        let rows = parts.reduce(0) { $0 + $1.shape[0] }
        func stack<S: TensorScalar>(_: S.Type) -> Tensor {
            Tensor(shape: [rows, columns], of: S.self) { out in
                var offset = 0
                for part in parts {
                    part.withUnsafeBufferPointer(as: S.self) { p in
                        (out.baseAddress! + offset).update(from: p.baseAddress!, count: p.count)
                        offset += p.count
                    }
                }
            }
        }
        return parts[0].dtype == .float32 ? stack(Float.self) : stack(Double.self)
    }
}

/// What a caller asks the forward to record beyond what the backward needs.
public struct AttentionLayerRecord: Sendable {
    public var weights: Bool
    public var vectors: Bool
    /// False when no backward will follow (no gradients recorded): the forward then keeps only
    /// what was asked for, not what a core's backward would read (softmax's weights A,
    /// [B, H, T, T₈], the largest buffer of an inference forward).
    public var forBackward: Bool
    /// False when nothing will read the saved [Q K V E] and O (no backward, no trace): they then
    /// live one tile at a time in a worker's buffer, written and read in cache instead of as
    /// whole-batch tensors in memory no cache holds, and `AttentionLayerSaved.qkv` and `.o` come
    /// back empty.
    public var keepsRows: Bool
    public init(weights: Bool = false, vectors: Bool = false, forBackward: Bool = true, keepsRows: Bool = true) {
        self.weights = weights
        self.vectors = vectors
        self.forBackward = forBackward
        self.keepsRows = keepsRows
    }
}

/// What the forward keeps: for the backward, and what was asked to be recorded.
public struct AttentionLayerSaved {
    /// [Q K V E] [B, T, 2H·d_k + H·d_v + H·e] (Q, K normalized when asked); empty ([0]) when the
    /// record said no one reads it (`AttentionLayerRecord.keepsRows`).
    public let qkv: Tensor
    /// Head outputs O [B, T, H·d_v]; empty when `qkv` is.
    public let o: Tensor
    /// The norms s of each row's 2H query and key slices [B·T·2H], when normalized.
    public let norms: Tensor?
    /// Attention weights A [B, H, T, T₈] (T₈ = T rounded up to 8, zero beyond the diagonal),
    /// when the core keeps them for its backward or they were asked for.
    public let weights: Tensor?
    /// The core's traced vectors [B, T, V·H·d_k] (vector i of head h at columns
    /// (i·H + h)·d_k…), when asked for.
    public let vectors: Tensor?
}

/// Gradients of the attention sublayer.
public struct AttentionLayerGradients {
    public let dx: Tensor
    /// The query/key input's gradient; nil when that input is the residual stream itself (the
    /// shared input: `dx` then holds the whole gradient, and no zero tensor is written and added).
    public let dqk: Tensor?
    public let dwq: Tensor, dwk: Tensor, dwv: Tensor, dp: Tensor
    public let dExtraWeight: Tensor?
    /// One [H] per head parameter.
    public let dHeadParameters: [Tensor]
}

/// Head parameters as rows [H][p] of scalars.
func headParameterRows<S: TensorScalar>(_ parameters: [Tensor], heads: Int, as _: S.Type) -> WorkerScratch<S> {
    let p = parameters.map { $0.scalars(as: S.self) }
    let rows = WorkerScratch<S>(heads * p.count)
    for h in 0..<heads { for j in 0..<p.count { rows.base[h * p.count + j] = p[j][h] } }
    return rows
}

/// Worker-local memory, 64-byte aligned, freed with the value's owner.
final class WorkerScratch<S: TensorScalar> {
    let base: UnsafeMutablePointer<S>
    init(_ count: Int) {
        base = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<S>.stride, alignment: 64)
            .bindMemory(to: S.self, capacity: max(1, count))
    }
    deinit { base.deallocate() }
}

/// The operands both passes read: inputs, stacked projection weights and head parameters.
struct LayerOperands<S: TensorScalar> {
    let x: Tensor, qk: Tensor, wQK: Tensor, wVE: Tensor, p: Tensor
    let parameters: WorkerScratch<S>

    init(_ s: AttentionLayerShape, _ i: AttentionLayerInputs) {
        x = i.x
        qk = i.qk
        wQK = i.stackedQueryKeyWeights(shared: s.sharedInput)
        wVE = s.sharedInput ? i.wv : i.stackedValueWeights
        p = i.p
        parameters = headParameterRows(i.headParameters, heads: s.heads, as: S.self)
    }
}

// MARK: forward

/// The forward's buffers and its steps for one tile.
struct LayerForwardPass<C: AttentionCore, S: TensorScalar> {
    let core: C, spec: AttentionSpec, s: AttentionLayerShape
    let op: LayerOperands<S>
    let qkv: Tensor, o: Tensor, norms: Tensor, weights: Tensor, vectors: Tensor, y: Tensor
    let keepWeights: Bool, keepVectors: Bool
    /// Whether [Q K V E] and O are whole-batch tensors (else one tile at a time per worker).
    let keepRows: Bool

    init(_ core: C, _ spec: AttentionSpec, _ s: AttentionLayerShape, _ i: AttentionLayerInputs, _ record: AttentionLayerRecord?) {
        self.core = core
        self.spec = spec
        self.s = s
        op = LayerOperands(s, i)
        // Without gradients (evaluation) or when the caller says no backward will run, nothing reads A:
        // not keeping it saves writing [B, H, T, T₈] (and, at evaluation batch sizes, a fresh mapping's page faults).
        keepWeights = C.hasAttentionWeights
            && ((core.keepsWeights(length: s.length, keySize: s.keySize, valueSize: s.valueSize)
                 && Variable.gradientsEnabled && record?.forBackward != false)
                || record?.weights == true)
        keepVectors = !C.tracedVectors.isEmpty && record?.vectors == true
        keepRows = record?.keepsRows ?? true
        let rows = s.batch * s.length
        qkv = Tensor(uninitializedShape: keepRows ? [s.batch, s.length, s.qkvWidth] : [0], dtype: S.dtype)
        o = Tensor(uninitializedShape: keepRows ? [s.batch, s.length, s.hv] : [0], dtype: S.dtype)
        norms = Tensor(uninitializedShape: [spec.normalizeQueryKey ? rows * 2 * s.heads : 0], dtype: S.dtype)
        weights = Tensor(uninitializedShape: keepWeights ? [s.batch, s.heads, s.length, s.paddedLength] : [0], dtype: S.dtype)
        vectors = Tensor(uninitializedShape: [s.batch, s.length, keepVectors ? C.tracedVectors.count * s.hk : 0], dtype: S.dtype)
        y = Tensor(uninitializedShape: [s.batch, s.length, s.width], dtype: S.dtype)
    }

    /// [Q K V E] of rows r0..<r0+n into `buf` (row r0's place): one product from the shared input, or two.
    func project(rows r0: Int, count n: Int, into buf: UnsafeMutablePointer<S>) {
        if s.sharedInput {
            S.gemm(transA: false, transB: true, m: n, n: s.qkvWidth, k: s.width, alpha: 1,
                   a: op.x.unsafeElements(as: S.self) + r0 * s.width, lda: s.width, b: op.wQK.unsafeElements(as: S.self),
                   ldb: s.width, beta: 0, c: buf, ldc: s.qkvWidth)
        } else {
            S.gemm(transA: false, transB: true, m: n, n: 2 * s.hk, k: s.qkWidth, alpha: 1,
                   a: op.qk.unsafeElements(as: S.self) + r0 * s.qkWidth, lda: s.qkWidth, b: op.wQK.unsafeElements(as: S.self),
                   ldb: s.qkWidth, beta: 0, c: buf, ldc: s.qkvWidth)
            S.gemm(transA: false, transB: true, m: n, n: s.hv + s.he, k: s.width, alpha: 1,
                   a: op.x.unsafeElements(as: S.self) + r0 * s.width, lda: s.width, b: op.wVE.unsafeElements(as: S.self),
                   ldb: s.width, beta: 0, c: buf + 2 * s.hk, ldc: s.qkvWidth)
        }
    }

    /// Per-head L2 normalization of the queries and keys of rows r0..<r0+n (at `buf`), in place.
    func normalize(rows r0: Int, count n: Int, in buf: UnsafeMutablePointer<S>) {
        guard spec.normalizeQueryKey else { return }
        let np = norms.unsafeElements(as: S.self)
        for r in 0..<n {
            normalizeSlices(buf + r * s.qkvWidth, count: 2 * s.heads, width: s.keySize, norms: np + (r0 + r) * 2 * s.heads)
        }
    }

    /// The core on every (sequence, head) of sequences b0..<b1, their [Q K V E] rows at `buf` and
    /// their O rows at `out` (sequence b0's place).
    func runCores(sequences b0: Int, _ b1: Int, rows buf: UnsafeMutablePointer<S>, out: UnsafeMutablePointer<S>,
                  scratch: UnsafeMutablePointer<S>) {
        let (t, tp, heads) = (s.length, s.paddedLength, s.heads)
        for b in b0..<b1 {
            let local = b - b0
            for h in 0..<heads {
                let record = CoreRecord<S>(
                    weights: keepWeights ? weights.unsafeElements(as: S.self) + (b * heads + h) * t * tp : nil,
                    vectors: keepVectors ? vectors.unsafeElements(as: S.self) + b * t * vectors.shape[2] + h * s.keySize : nil,
                    vectorRowStride: vectors.shape[2], vectorSpacing: s.hk)
                core.forward(s.head(h, in: buf + local * t * s.qkvWidth), parameters: op.parameters.base + h * s.parametersPerHead,
                             out: out + local * t * s.hv + h * s.valueSize, outStride: s.hv, scratch: scratch, record: record)
            }
        }
    }

    /// Y = O Pᵀ for rows r0..<r0+n (their O rows at `oRows`).
    func projectOut(rows r0: Int, count n: Int, from oRows: UnsafeMutablePointer<S>) {
        S.gemm(transA: false, transB: true, m: n, n: s.width, k: s.hv, alpha: 1,
               a: oRows, lda: s.hv, b: op.p.unsafeElements(as: S.self), ldb: s.hv,
               beta: 0, c: y.unsafeElements(as: S.self) + r0 * s.width, ldc: s.width)
    }

    func run() -> (Tensor, AttentionLayerSaved) {
        withExtendedLifetime(self) {
            Parallel.forChunks(s.tiles, perWorker: 4) { tiles in
                let scratch = WorkerScratch<S>(core.scratchCount(length: s.length, keySize: s.keySize, valueSize: s.valueSize))
                core.prepare(scratch: scratch.base, length: s.length, keySize: s.keySize, valueSize: s.valueSize)
                // Without kept rows, one tile's [Q K V E] and O in a buffer of the pool (warm from the
                // last call), reused tile after tile. O starts 1 KiB past a 64-byte boundary after
                // [Q K V E]: right after it, full-mesa's inference forward ran 4% slower (one thread's
                // CPU; the cores' reads and writes of the two regions fell on the same 4 KiB offsets).
                let oOffset = (s.tile * s.length * s.qkvWidth + 15) / 16 * 16 + 256
                let tileCount = keepRows ? 0 : oOffset + s.tile * s.length * s.hv
                TensorPool.shared.withScratch(S.self, count: tileCount) { tileRows in
                    for tile in tiles {
                        let b0 = tile * s.tile, b1 = min(s.batch, b0 + s.tile), r0 = b0 * s.length, n = (b1 - b0) * s.length
                        let rows = keepRows ? qkv.unsafeElements(as: S.self) + r0 * s.qkvWidth : tileRows
                        let oRows = keepRows ? o.unsafeElements(as: S.self) + r0 * s.hv : tileRows + oOffset
                        project(rows: r0, count: n, into: rows)
                        normalize(rows: r0, count: n, in: rows)
                        runCores(sequences: b0, b1, rows: rows, out: oRows, scratch: scratch.base)
                        projectOut(rows: r0, count: n, from: oRows)
                    }
                }
            }
        }
        return (y, AttentionLayerSaved(qkv: qkv, o: o, norms: spec.normalizeQueryKey ? norms : nil,
                                       weights: keepWeights ? weights : nil, vectors: keepVectors ? vectors : nil))
    }
}

// MARK: backward

/// The backward's buffers and its steps for one tile. Weight gradients are summed over the
/// batch in `Parallel.reductionParts` fixed parts, added in order (independent of the
/// thread count).
struct LayerBackwardPass<C: AttentionCore, S: TensorScalar> {
    let core: C, spec: AttentionSpec, s: AttentionLayerShape
    let op: LayerOperands<S>
    let dy: Tensor, saved: AttentionLayerSaved
    let dx: Tensor, dqk: Tensor?
    /// Per part: d[W_Q; W_K; W_V; W_E] (or d[W_Q; W_K] and d[W_V; W_E]), dP and d(head parameters).
    let partSize: Int
    let accumulators: WorkerScratch<S>
    let parts: [Range<Int>]
    /// False: only the input gradients are wanted (the projection weights' products are skipped and
    /// their gradients come back 0), e.g. the sensitivity analysis's Jacobians.
    let weightGradients: Bool

    init(_ core: C, _ spec: AttentionSpec, _ s: AttentionLayerShape, _ i: AttentionLayerInputs, dy: Tensor,
         saved: AttentionLayerSaved, weightGradients: Bool = true) {
        precondition(dy.shape == i.x.shape && saved.o.shape == [s.batch, s.length, s.hv]
                     && saved.qkv.shape == [s.batch, s.length, s.qkvWidth], "attention layer backward: shapes")
        if core.keepsWeights(length: s.length, keySize: s.keySize, valueSize: s.valueSize) {
            precondition(saved.weights?.shape == [s.batch, s.heads, s.length, s.paddedLength],
                         "attention layer backward: \(spec.kind) needs the forward's weights")
        }
        self.core = core
        self.spec = spec
        self.s = s
        self.dy = dy
        op = LayerOperands(s, i)
        self.saved = saved
        self.weightGradients = weightGradients
        dx = Tensor(uninitializedShape: i.x.shape, dtype: S.dtype)
        dqk = s.sharedInput ? nil : Tensor(uninitializedShape: i.qk.shape, dtype: S.dtype)
        parts = Parallel.split(s.batch, parts: Parallel.reductionParts)
        partSize = s.projectionWeightCount + s.width * s.hv + s.heads * s.parametersPerHead
        accumulators = WorkerScratch<S>(parts.count * partSize)
        accumulators.base.initialize(repeating: 0, count: parts.count * partSize)
    }

    /// dO = dY P and dP += dYᵀ O for rows r0..<r0+n.
    func outputProjectionBackward(rows r0: Int, count n: Int, dO: UnsafeMutablePointer<S>, dP: UnsafeMutablePointer<S>) {
        let dyRows = dy.unsafeElements(as: S.self) + r0 * s.width
        S.gemm(transA: false, transB: false, m: n, n: s.hv, k: s.width, alpha: 1, a: dyRows, lda: s.width,
               b: op.p.unsafeElements(as: S.self), ldb: s.hv, beta: 0, c: dO, ldc: s.hv)
        guard weightGradients else { return }
        S.gemm(transA: true, transB: false, m: s.width, n: s.hv, k: n, alpha: 1, a: dyRows, lda: s.width,
               b: saved.o.unsafeElements(as: S.self) + r0 * s.hv, ldb: s.hv, beta: 1, c: dP, ldc: s.hv)
    }

    /// d[Q K V E] of sequences b0..<b1 from dO, head by head; adds the head parameters'
    /// gradients to `dParameters`.
    func coresBackward(sequences b0: Int, _ b1: Int, dO: UnsafeMutablePointer<S>, dQKV: UnsafeMutablePointer<S>,
                       dParameters: UnsafeMutablePointer<S>, scratch: UnsafeMutablePointer<S>) {
        let (t, tp, heads, pp) = (s.length, s.paddedLength, s.heads, s.parametersPerHead)
        let qkvRows = saved.qkv.unsafeElements(as: S.self)
        let weights = core.keepsWeights(length: s.length, keySize: s.keySize, valueSize: s.valueSize)
            ? saved.weights!.unsafeElements(as: S.self) : nil
        let headBytes = t * tp * MemoryLayout<S>.stride
        for b in b0..<b1 {
            let local = (b - b0) * t
            for h in 0..<heads {
                // The next head's weights, then (once per sequence) the next sequence's [Q K V E]
                // rows, kept by the forward and long out of the cache: asked for while this head computes.
                if let weights, b + 1 < b1 || h + 1 < heads {
                    mesa_prefetch_soon(weights + (b * heads + h + 1) * t * tp, headBytes)
                }
                if h == 0 && b + 1 < b1 {
                    mesa_prefetch_soon(qkvRows + (b + 1) * t * s.qkvWidth, t * s.qkvWidth * MemoryLayout<S>.stride)
                }
                core.backward(s.head(h, in: qkvRows + b * t * s.qkvWidth),
                              parameters: op.parameters.base + h * pp,
                              dOut: dO + local * s.hv + h * s.valueSize, doutStride: s.hv,
                              grad: s.head(h, in: dQKV + local * s.qkvWidth), dParameters: dParameters + h * pp,
                              scratch: scratch, weights: weights.map { UnsafePointer($0 + (b * heads + h) * t * tp) })
            }
        }
        mesa_prefetch_soon_clear()  // nothing of this tile left for the next kernels to ask for
    }

    /// Through the per-head L2 normalization of queries and keys, in place.
    func normalizationBackward(rows r0: Int, count n: Int, dQKV: UnsafeMutablePointer<S>) {
        guard spec.normalizeQueryKey, let norms = saved.norms else { return }
        let qkvRows = saved.qkv.unsafeElements(as: S.self) + r0 * s.qkvWidth, np = norms.unsafeElements(as: S.self)
        for r in 0..<n {
            normalizeSlicesBackward(dQKV + r * s.qkvWidth, normalized: qkvRows + r * s.qkvWidth, count: 2 * s.heads,
                                    width: s.keySize, norms: np + (r0 + r) * 2 * s.heads)
        }
    }

    /// Input gradients and the projection weights' gradients of rows r0..<r0+n.
    func projectionBackward(rows r0: Int, count n: Int, dQKV: UnsafeMutablePointer<S>, dW: UnsafeMutablePointer<S>) {
        let w3 = s.qkvWidth, xRows = op.x.unsafeElements(as: S.self) + r0 * s.width
        if s.sharedInput {
            // dX = d[Q K V E] [W_Q; W_K; W_V; W_E];  d[W_Q; W_K; W_V; W_E] += d[Q K V E]ᵀ X
            S.gemm(transA: false, transB: false, m: n, n: s.width, k: w3, alpha: 1, a: dQKV, lda: w3,
                   b: op.wQK.unsafeElements(as: S.self), ldb: s.width, beta: 0,
                   c: dx.unsafeElements(as: S.self) + r0 * s.width, ldc: s.width)
            guard weightGradients else { return }
            S.gemm(transA: true, transB: false, m: w3, n: s.width, k: n, alpha: 1, a: dQKV, lda: w3,
                   b: xRows, ldb: s.width, beta: 1, c: dW, ldc: s.width)
        } else {
            // dX_qk = d[Q K] [W_Q; W_K];  dX = d[V E] [W_V; W_E];  and the weight gradients.
            let qkRows = op.qk.unsafeElements(as: S.self) + r0 * s.qkWidth, ve = s.hv + s.he
            S.gemm(transA: false, transB: false, m: n, n: s.qkWidth, k: 2 * s.hk, alpha: 1, a: dQKV, lda: w3,
                   b: op.wQK.unsafeElements(as: S.self), ldb: s.qkWidth, beta: 0,
                   c: dqk!.unsafeElements(as: S.self) + r0 * s.qkWidth, ldc: s.qkWidth)
            S.gemm(transA: false, transB: false, m: n, n: s.width, k: ve, alpha: 1, a: dQKV + 2 * s.hk, lda: w3,
                   b: op.wVE.unsafeElements(as: S.self), ldb: s.width, beta: 0,
                   c: dx.unsafeElements(as: S.self) + r0 * s.width, ldc: s.width)
            guard weightGradients else { return }
            S.gemm(transA: true, transB: false, m: 2 * s.hk, n: s.qkWidth, k: n, alpha: 1, a: dQKV, lda: w3,
                   b: qkRows, ldb: s.qkWidth, beta: 1, c: dW, ldc: s.qkWidth)
            S.gemm(transA: true, transB: false, m: ve, n: s.width, k: n, alpha: 1, a: dQKV + 2 * s.hk, lda: w3,
                   b: xRows, ldb: s.width, beta: 1, c: dW + 2 * s.hk * s.qkWidth, ldc: s.width)
        }
    }

    /// Adds the parts in order and cuts the sum into the weight gradients.
    func reduceParts() -> (dwq: Tensor, dwk: Tensor, dwv: Tensor, dExtra: Tensor?, dp: Tensor, dHead: [Tensor]) {
        let acc = accumulators.base
        for part in 1..<parts.count {
            for i in 0..<partSize { acc[i] += acc[part * partSize + i] }
        }
        func slice(_ offset: Int, _ shape: [Int]) -> Tensor {
            Tensor(shape: shape, of: S.self) { d in for i in 0..<d.count { d[i] = acc[offset + i] } }
        }
        // Rows of d[W_Q; W_K; …] are contiguous blocks: W_Q, W_K, then W_V and W_E (both of width D).
        let qkSize = s.hk * s.qkWidth, vSize = s.hv * s.width
        let dHeadOffset = s.projectionWeightCount + s.width * s.hv, pp = s.parametersPerHead
        let dHead = (0..<pp).map { j in
            Tensor(shape: [s.heads], of: S.self) { d in for h in 0..<s.heads { d[h] = acc[dHeadOffset + h * pp + j] } }
        }
        return (slice(0, [s.hk, s.qkWidth]), slice(qkSize, [s.hk, s.qkWidth]), slice(2 * qkSize, [s.hv, s.width]),
                s.he > 0 ? slice(2 * qkSize + vSize, [s.he, s.width]) : nil,
                slice(s.projectionWeightCount, [s.width, s.hv]), dHead)
    }

    func run() -> AttentionLayerGradients {
        withExtendedLifetime(self) {
            Parallel.forEach(parts.count) { part in
                let acc = accumulators.base + part * partSize
                let dW = acc, dP = acc + s.projectionWeightCount, dParameters = dP + s.width * s.hv
                // d[Q K V E], dO and the core's panels, each starting on a cache line.
                let rowsMax = s.tile * s.length, line = 64 / MemoryLayout<S>.stride
                func lines(_ n: Int) -> Int { (n + line - 1) / line * line }
                let dQKVCount = lines(rowsMax * s.qkvWidth), dOCount = lines(rowsMax * s.hv)
                let buffers = WorkerScratch<S>(dQKVCount + dOCount
                                               + core.scratchCount(length: s.length, keySize: s.keySize, valueSize: s.valueSize))
                let dQKV = buffers.base, dO = dQKV + dQKVCount, scratch = dO + dOCount
                core.prepare(scratch: scratch, length: s.length, keySize: s.keySize, valueSize: s.valueSize)
                var b0 = parts[part].lowerBound
                while b0 < parts[part].upperBound {
                    let b1 = min(parts[part].upperBound, b0 + s.tile), r0 = b0 * s.length, n = (b1 - b0) * s.length
                    outputProjectionBackward(rows: r0, count: n, dO: dO, dP: dP)
                    coresBackward(sequences: b0, b1, dO: dO, dQKV: dQKV, dParameters: dParameters, scratch: scratch)
                    normalizationBackward(rows: r0, count: n, dQKV: dQKV)
                    projectionBackward(rows: r0, count: n, dQKV: dQKV, dW: dW)
                    b0 = b1
                }
            }
        }
        let g = reduceParts()
        return AttentionLayerGradients(dx: dx, dqk: dqk, dwq: g.dwq, dwk: g.dwk, dwv: g.dwv, dp: g.dp,
                                       dExtraWeight: g.dExtra, dHeadParameters: g.dHead)
    }
}

// MARK: entry points

extension AttentionCore {
    public func layerForward(_ shape: AttentionLayerShape, _ inputs: AttentionLayerInputs, spec: AttentionSpec,
                             record: AttentionLayerRecord?) -> (y: Tensor, saved: AttentionLayerSaved) {
        inputs.x.dtype == .float32
            ? LayerForwardPass<Self, Float>(self, spec, shape, inputs, record).run()
            : LayerForwardPass<Self, Double>(self, spec, shape, inputs, record).run()
    }

    public func layerBackward(_ shape: AttentionLayerShape, _ inputs: AttentionLayerInputs, spec: AttentionSpec,
                              dy: Tensor, saved: AttentionLayerSaved, weightGradients: Bool) -> AttentionLayerGradients {
        inputs.x.dtype == .float32
            ? LayerBackwardPass<Self, Float>(self, spec, shape, inputs, dy: dy, saved: saved, weightGradients: weightGradients).run()
            : LayerBackwardPass<Self, Double>(self, spec, shape, inputs, dy: dy, saved: saved, weightGradients: weightGradients).run()
    }
}

/// Forward of the sublayer: Y [B, T, D] and what the backward needs.
public func attentionLayerForward(_ spec: AttentionSpec, _ inputs: AttentionLayerInputs,
                                  record: AttentionLayerRecord? = nil) -> (y: Tensor, saved: AttentionLayerSaved) {
    spec.core.layerForward(AttentionLayerShape(spec, inputs), inputs, spec: spec, record: record)
}

/// Backward of `attentionLayerForward`. With a shared input, `dx` holds the whole input
/// gradient and `dqk` is nil. Without `weightGradients` the projection weights' gradients are
/// not computed (they come back 0).
public func attentionLayerBackward(_ spec: AttentionSpec, _ inputs: AttentionLayerInputs, dy: Tensor,
                                   saved: AttentionLayerSaved, weightGradients: Bool = true) -> AttentionLayerGradients {
    spec.core.layerBackward(AttentionLayerShape(spec, inputs), inputs, spec: spec, dy: dy, saved: saved,
                            weightGradients: weightGradients)
}

/// The attention sublayer as one differentiable operation: Y [B, T, D] from the residual
/// stream x [B, T, D] and the query/key input [B, T, D_qk] (which may be x itself).
/// `saved` receives what the forward kept (for traces).
public func attentionLayer(_ spec: AttentionSpec, _ x: Variable, queryKeyInput qk: Variable, wq: Variable, wk: Variable,
                           wv: Variable, p: Variable, extraWeight: Variable? = nil, headParameters: [Variable] = [],
                           record: AttentionLayerRecord? = nil,
                           saved savedOut: ((AttentionLayerSaved) -> Void)? = nil) -> Variable {
    let inputs = AttentionLayerInputs(x: x.value, queryKeyInput: qk.value, wq: wq.value, wk: wk.value, wv: wv.value,
                                      p: p.value, extraWeight: extraWeight?.value, headParameters: headParameters.map(\.value))
    let variables = [x, qk, wq, wk, wv, p] + (extraWeight.map { [$0] } ?? []) + headParameters
    // The same condition under which `Variable` keeps the pullback below.
    var what = record ?? AttentionLayerRecord()
    what.forBackward = Variable.gradientsEnabled && variables.contains { $0.requiresGrad }
    // The rows are read by the backward, or by a trace (which passes a record or a `saved` callback).
    what.keepsRows = what.forBackward || record != nil || savedOut != nil
    let (y, saved) = attentionLayerForward(spec, inputs, record: what)
    savedOut?(saved)
    return Variable(y, inputs: variables) { dy in
        let g = attentionLayerBackward(spec, inputs, dy: dy, saved: saved,
                                       weightGradients: variables[2...].contains { $0.requiresGrad })
        let weights: [Tensor?] = [g.dwq, g.dwk, g.dwv, g.dp] + (g.dExtraWeight.map { [$0] } ?? []) + g.dHeadParameters
        return [g.dx, g.dqk] + weights
    }
}
