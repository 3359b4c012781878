import MesaTensor

// Causal attention of any kind over whole-batch tensors (SPEC §2): q, k [B, T, H·d_k],
// v [B, T, H·d_v], the core's extra inputs [B, T, H·e] and its head parameters [H] each.
// It runs the same per-head cores as the fused sublayer (AttentionLayerKernel.swift), with
// (sequence, head) pairs spread over the cores. This is the composed reference the fused
// sublayer is tested against, the operation probes and benchmarks call directly, and the
// bridge to each core's plain Double reference (`referenceAttention`).

/// The operands of one whole-batch call.
public struct CausalAttentionInputs {
    public let q: Tensor, k: Tensor, v: Tensor
    public let extra: Tensor?
    public let headParameters: [Tensor]
    public let geometry: AttentionGeometry
    public let extraSize: Int

    public init(_ spec: AttentionSpec, q: Tensor, k: Tensor, v: Tensor, extra: Tensor? = nil, headParameters: [Tensor] = []) {
        geometry = AttentionGeometry(q: q, k: k, v: v, heads: spec.heads)
        guard let core = spec.kind.coreType else { preconditionFailure("unknown layer kind '\(spec.kind)'") }
        let e = core.extraProjection?.widthPerHead ?? 0
        precondition((e > 0) == (extra != nil)
                     && (extra.map { $0.shape == [q.shape[0], q.shape[1], spec.heads * e] && $0.dtype == q.dtype } ?? true),
                     "attention: \(spec.kind) needs \(e > 0 ? "extra inputs [B, T, \(spec.heads * e)]" : "no extra inputs")")
        precondition(headParameters.count == core.headParameters.count
                     && headParameters.allSatisfy { $0.shape == [spec.heads] && $0.dtype == q.dtype },
                     "attention: \(spec.kind) needs \(core.headParameters.count) head parameter(s) of shape [\(spec.heads)]")
        self.q = q
        self.k = k
        self.v = v
        self.extra = extra
        self.headParameters = headParameters
        extraSize = e
    }

    /// Head `job % H` of sequence `job / H` in tensors laid out like these inputs.
    @inline(__always)
    func head<S: TensorScalar>(_ job: Int, q: UnsafeMutablePointer<S>, k: UnsafeMutablePointer<S>,
                               v: UnsafeMutablePointer<S>, extra: UnsafeMutablePointer<S>?) -> HeadView<S> {
        let g = geometry, he = g.heads * extraSize
        return HeadView(length: g.length, keySize: g.keySize, valueSize: g.valueSize, q: q + g.qkOffset(job),
                        k: k + g.qkOffset(job), qkStride: g.qkStride, v: v + g.vOffset(job), vStride: g.vStride,
                        extra: extra.map { $0 + (job / g.heads) * g.length * he + (job % g.heads) * extraSize },
                        extraStride: he)
    }
}

/// Gradients of a whole-batch call.
public struct CausalAttentionGradients {
    public let dq: Tensor, dk: Tensor, dv: Tensor
    public let dExtra: Tensor?
    /// One [H] per head parameter.
    public let dHeadParameters: [Tensor]
}

extension AttentionCore {
    public func batchForward(_ inputs: CausalAttentionInputs, record: Bool) -> (out: Tensor, weights: Tensor?) {
        inputs.q.dtype == .float32 ? causalAttentionForward(self, inputs, record: record, Float.self)
                                   : causalAttentionForward(self, inputs, record: record, Double.self)
    }

    public func batchBackward(_ inputs: CausalAttentionInputs, dOut: Tensor, weights: Tensor?) -> CausalAttentionGradients {
        inputs.q.dtype == .float32 ? causalAttentionBackward(self, inputs, dOut: dOut, weights: weights, Float.self)
                                   : causalAttentionBackward(self, inputs, dOut: dOut, weights: weights, Double.self)
    }
}

/// Output [B, T, H·d_v] and, when the core has them and keeps them (or `record`), the
/// attention weights [B, H, T, T₈].
func causalAttentionForward<C: AttentionCore, S: TensorScalar>(_ core: C, _ inputs: CausalAttentionInputs, record: Bool,
                                                                _: S.Type) -> (out: Tensor, weights: Tensor?) {
    let g = inputs.geometry, (t, tp) = (g.length, roundUp8(g.length))
    let keep = C.hasAttentionWeights
        && (core.keepsWeights(length: t, keySize: g.keySize, valueSize: g.valueSize) || record)
    let weights = Tensor(uninitializedShape: keep ? [g.batch, g.heads, t, tp] : [0], dtype: S.dtype)
    let out = Tensor(uninitializedShape: inputs.v.shape, dtype: S.dtype)
    let parameters = headParameterRows(inputs.headParameters, heads: g.heads, as: S.self), pp = inputs.headParameters.count
    let (q, k, v) = (inputs.q.unsafeElements(as: S.self), inputs.k.unsafeElements(as: S.self), inputs.v.unsafeElements(as: S.self))
    let extra = inputs.extra?.unsafeElements(as: S.self)
    withExtendedLifetime((inputs, weights, out, parameters)) {
        Parallel.forChunks(g.jobs, perWorker: 4) { jobs in
            let scratch = WorkerScratch<S>(core.scratchCount(length: t, keySize: g.keySize, valueSize: g.valueSize))
            core.prepare(scratch: scratch.base, length: t, keySize: g.keySize, valueSize: g.valueSize)
            for job in jobs {
                let record = CoreRecord<S>(weights: keep ? weights.unsafeElements(as: S.self) + job * t * tp : nil)
                core.forward(inputs.head(job, q: q, k: k, v: v, extra: extra), parameters: parameters.base + (job % g.heads) * pp,
                             out: out.unsafeElements(as: S.self) + g.vOffset(job), outStride: g.vStride,
                             scratch: scratch.base, record: record)
            }
        }
    }
    return (out, keep ? weights : nil)
}

/// Backward from dout; head-parameter gradients sum over the batch in
/// `Parallel.reductionParts` fixed parts.
func causalAttentionBackward<C: AttentionCore, S: TensorScalar>(_ core: C, _ inputs: CausalAttentionInputs, dOut: Tensor,
                                                                 weights: Tensor?, _: S.Type) -> CausalAttentionGradients {
    let g = inputs.geometry, (t, tp) = (g.length, roundUp8(g.length))
    precondition(dOut.shape == inputs.v.shape, "attention backward: dOut \(dOut.shape) vs v \(inputs.v.shape)")
    let kept = core.keepsWeights(length: t, keySize: g.keySize, valueSize: g.valueSize)
    if kept {
        precondition(weights?.shape == [g.batch, g.heads, t, tp], "attention backward: needs the forward's weights")
    }
    let dq = Tensor(uninitializedShape: inputs.q.shape, dtype: S.dtype)
    let dk = Tensor(uninitializedShape: inputs.k.shape, dtype: S.dtype)
    let dv = Tensor(uninitializedShape: inputs.v.shape, dtype: S.dtype)
    let dExtra = inputs.extra.map { Tensor(uninitializedShape: $0.shape, dtype: S.dtype) }
    let pp = inputs.headParameters.count
    let parts = Parallel.split(g.batch, parts: Parallel.reductionParts)
    let parameters = headParameterRows(inputs.headParameters, heads: g.heads, as: S.self)
    let partial = WorkerScratch<S>(parts.count * g.heads * pp)
    partial.base.initialize(repeating: 0, count: parts.count * g.heads * pp)
    let (q, k, v) = (inputs.q.unsafeElements(as: S.self), inputs.k.unsafeElements(as: S.self), inputs.v.unsafeElements(as: S.self))
    let extra = inputs.extra?.unsafeElements(as: S.self)
    let (dqp, dkp, dvp) = (dq.unsafeElements(as: S.self), dk.unsafeElements(as: S.self), dv.unsafeElements(as: S.self))
    let dep = dExtra?.unsafeElements(as: S.self), gp = dOut.unsafeElements(as: S.self)
    let wp = kept ? weights!.unsafeElements(as: S.self) : nil
    withExtendedLifetime((inputs, dOut, weights, dq, dk, dv, dExtra, parameters, partial)) {
        Parallel.forEach(parts.count) { part in
            let scratch = WorkerScratch<S>(core.scratchCount(length: t, keySize: g.keySize, valueSize: g.valueSize))
            core.prepare(scratch: scratch.base, length: t, keySize: g.keySize, valueSize: g.valueSize)
            for job in (parts[part].lowerBound * g.heads)..<(parts[part].upperBound * g.heads) {
                let h = job % g.heads
                core.backward(inputs.head(job, q: q, k: k, v: v, extra: extra), parameters: parameters.base + h * pp,
                              dOut: gp + g.vOffset(job), doutStride: g.vStride,
                              grad: inputs.head(job, q: dqp, k: dkp, v: dvp, extra: dep),
                              dParameters: partial.base + (part * g.heads + h) * pp, scratch: scratch.base,
                              weights: wp.map { UnsafePointer($0 + job * t * tp) })
            }
        }
    }
    let dHead = (0..<pp).map { j in
        Tensor(shape: [g.heads], of: S.self) { d in
            for h in 0..<g.heads {
                d[h] = 0
                for part in 0..<parts.count { d[h] += partial.base[(part * g.heads + h) * pp + j] }
            }
        }
    }
    return CausalAttentionGradients(dq: dq, dk: dk, dv: dv, dExtra: dExtra, dHeadParameters: dHead)
}

/// Differentiable causal attention of the kind `spec.kind` over whole-batch tensors.
public func causalAttention(_ spec: AttentionSpec, _ q: Variable, _ k: Variable, _ v: Variable, extra: Variable? = nil,
                            headParameters: [Variable] = []) -> Variable {
    let core = spec.core
    let inputs = CausalAttentionInputs(spec, q: q.value, k: k.value, v: v.value, extra: extra?.value,
                                       headParameters: headParameters.map(\.value))
    let (out, weights) = core.batchForward(inputs, record: false)
    return Variable(out, inputs: [q, k, v] + (extra.map { [$0] } ?? []) + headParameters) { dOut in
        let d = core.batchBackward(inputs, dOut: dOut, weights: weights)
        return [d.dq, d.dk, d.dv] + (d.dExtra.map { [$0] } ?? []) + d.dHeadParameters
    }
}

/// The kind's plain Double reference over whole-batch tensors: each (sequence, head) cut
/// out into rows and passed to `AttentionCore.reference`.
public func referenceAttention(_ spec: AttentionSpec, q: Tensor, k: Tensor, v: Tensor, extra: Tensor? = nil,
                               headParameters: [[Double]] = []) -> Tensor {
    let inputs = CausalAttentionInputs(spec, q: q.converted(to: .float64), k: k.converted(to: .float64),
                                       v: v.converted(to: .float64), extra: extra?.converted(to: .float64),
                                       headParameters: headParameters.map { Tensor(shape: [spec.heads], $0) })
    let g = inputs.geometry, core = spec.core, e = inputs.extraSize
    let qd = q.doubles, kd = k.doubles, vd = v.doubles, ed = extra?.doubles ?? []
    var out = [Double](repeating: 0, count: v.count)
    for b in 0..<g.batch {
        for h in 0..<g.heads {
            func rows(_ x: [Double], stride: Int, width: Int) -> [[Double]] {
                (0..<g.length).map { t in Array(x[((b * g.length + t) * stride + h * width)...].prefix(width)) }
            }
            let head = HeadSequence(q: rows(qd, stride: g.qkStride, width: g.keySize), k: rows(kd, stride: g.qkStride, width: g.keySize),
                                    v: rows(vd, stride: g.vStride, width: g.valueSize),
                                    extra: e > 0 ? rows(ed, stride: g.heads * e, width: e) : Array(repeating: [], count: g.length))
            let o = core.reference(head, parameters: headParameters.map { $0[h] })
            for t in 0..<g.length {
                for j in 0..<g.valueSize { out[(b * g.length + t) * g.vStride + h * g.valueSize + j] = o[t][j] }
            }
        }
    }
    return Tensor(shape: v.shape, out, dtype: v.dtype)
}
