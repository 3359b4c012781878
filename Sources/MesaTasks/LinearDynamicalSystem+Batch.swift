import CSupport
import MesaTensor

/// The fast batch of task 1 (and task 5): the same bytes as `referenceBatch`, which draws each
/// sequence through `sequence(count:stream:)`, in a fraction of the time (BENCHMARKS.md,
/// issue 14). Every floating-point operation is the reference's, in the reference's order;
/// only independent chains are interleaved so that the vector units run them side by side:
/// - the random numbers come eight Philox blocks at a time (`PhiloxBlockStream`), and the
///   normals of a teacher and of a sequence's noise in bulk (`normals(_:into:scratch:)`), so
///   that the C library's log, sin and cos of neighbouring pairs overlap;
/// - the Householder QR of the teacher runs on the columns of R (and the rows of Q) at once,
///   each column's dot product still summed over i in order;
/// - the recurrence computes the n components of s_{t+1} side by side, each still summed
///   over j in order, from Wᵀ (which the QR produces directly as Qᵀ), in registers for n ≤ 16;
/// - scratch memory is allocated once per chunk of sequences, and states are written to
///   the batch's Float32 (or Float64) storage directly.
/// With the vectorized sampler (`normals == .vectorized`) the normals come from
/// `PhiloxBlockStream.vectorizedNormals` instead, equal to the reference's
/// `RandomStream.vectorizedNormals`; everything else is the same.
///
/// Where the CPU has AVX-512 (`LaneKernels.enabled`), eight sequences run at once in the eight
/// Double lanes of a vector register (data512.c): each lane does the reference's operations in
/// the reference's order (QR, recurrence, rounding to the storage type), and with the vectorized
/// sampler the C code draws the Philox blocks and normals itself. The default stream's normals
/// are still drawn here, sequence by sequence (`PhiloxBlockStream.normals`).
extension LinearDynamicalSystem {
    public func makeBatch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
                          dtype: DType) -> SequenceBatch {
        makeBatch(size: size, length: length, seed: seed, purpose: purpose, step: step, dtype: dtype,
                  lanes: LaneKernels.enabled)
    }

    /// `makeBatch` with the lane kernels on or off (`lanes` is ignored where the CPU cannot run
    /// them): both give the reference's bytes; tests compare each with it.
    public func makeBatch(size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
                          dtype: DType, lanes: Bool) -> SequenceBatch {
        precondition(size > 0 && length > 0, "batch size and sequence length must be positive")
        let n = dimension
        // Task 5's shared teacher: drawn once, by the reference code.
        let shared: [Double]? = fixedTeacher.map { _ in
            var unused = RandomStream(seed: 0, purpose: .experiment)
            return Linalg.transpose(teacher(stream: &unused), n, n)
        }
        switch dtype {
        case .float32:
            return fill(Float.self, size: size, length: length, seed: seed, purpose: purpose, step: step,
                        sharedTeacherT: shared, lanes: lanes && LaneKernels.available)
        case .float64:
            return fill(Double.self, size: size, length: length, seed: seed, purpose: purpose, step: step,
                        sharedTeacherT: shared, lanes: lanes && LaneKernels.available)
        }
    }

    private func fill<S: TensorScalar & BinaryFloatingPoint>(
        _: S.Type, size: Int, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
        sharedTeacherT: [Double]?, lanes: Bool
    ) -> SequenceBatch {
        let n = dimension, per = length * n, count = length + 1
        let vectorized = normals == .vectorized
        precondition(step >= 0 && step <= Int(UInt32.max) && size - 1 <= Int(UInt32.max),
                     "random stream step \(step) / index \(size - 1) out of range")
        var targetsOut: UnsafeMutableBufferPointer<S>?
        let targets = Tensor(shape: [size, length, n], of: S.self) { targetsOut = $0 }
        let inputs = Tensor(shape: [size, length, n], of: S.self) { ip in
            let tp = targetsOut!
            Parallel.forChunks(size) { range in
                if lanes {
                    fillLanes(range, length: length, seed: seed, purpose: purpose, step: step, sharedTeacherT: sharedTeacherT,
                              inputs: UnsafeMutableRawPointer(ip.baseAddress!), targets: UnsafeMutableRawPointer(tp.baseAddress!),
                              float32: S.self == Float.self)
                    return
                }
                let words = UnsafeMutablePointer<UInt32>.allocate(capacity: PhiloxBlockStream.bufferWords)
                let noiseCount = n * (count - 1), bulk = max(n * n, noiseCount) + 1
                let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 4 * n * n + count * n + 4 * n + noiseCount + bulk + 16)
                defer { words.deallocate(); scratch.deallocate() }
                let wT = scratch, r = scratch + n * n, g = r + n * n, states = g + n * n
                let v = states + count * n, acc = v + n, x = acc + n, z = x + n + n, normalScratch = z + noiseCount
                if let t = sharedTeacherT { for i in 0..<(n * n) { wT[i] = t[i] } }
                for b in range {
                    var stream = PhiloxBlockStream(seed: seed, purpose: purpose, step: step, index: b, buffer: words)
                    if sharedTeacherT == nil {
                        if vectorized { stream.vectorizedNormals(n * n, into: g, lanes: false) } else {
                            stream.normals(n * n, into: g, scratch: normalScratch)
                        }
                        Self.householderQT(g, n: n, r: r, qT: wT, v: v, acc: acc)
                    }
                    for i in 0..<n { states[i] = stream.uniform(-1, 1) }
                    if vectorized { stream.vectorizedNormals(noiseCount, into: z, lanes: false) } else {
                        stream.normals(noiseCount, into: z, scratch: normalScratch)
                    }
                    recurrence(count: count, wT: wT, noise: z, states: states, x: x)
                    let ib = ip.baseAddress! + b * per, tb = tp.baseAddress! + b * per
                    for i in 0..<per {
                        ib[i] = S(states[i])
                        tb[i] = S(states[n + i])
                    }
                }
            }
        }
        return SequenceBatch(inputs: inputs, targets: targets)
    }

    /// The sequences `range` eight at a time through data512.c (lane l of a group is sequence
    /// g0 + l): with the vectorized sampler all in C; with the default stream the normals and s_1
    /// drawn here, per sequence, and the QR, recurrence and stores in C.
    private func fillLanes(_ range: Range<Int>, length: Int, seed: UInt64, purpose: RandomPurpose, step: Int,
                           sharedTeacherT: [Double]?, inputs: UnsafeMutableRawPointer, targets: UnsafeMutableRawPointer,
                           float32: Bool) {
        let n = dimension, per = length * n, count = length + 1, noiseCount = n * length
        let bytes = float32 ? MemoryLayout<Float>.stride : MemoryLayout<Double>.stride
        let work = UnsafeMutablePointer<Double>.allocate(capacity: mesa_lds_work_doubles(n, count))
        let shared = UnsafeMutablePointer<Double>.allocate(capacity: n * n)
        defer { work.deallocate(); shared.deallocate() }
        if let t = sharedTeacherT { for i in 0..<(n * n) { shared[i] = t[i] } }
        let sharedWT: UnsafePointer<Double>? = sharedTeacherT == nil ? nil : UnsafePointer(shared)
        if normals == .vectorized {
            let key: [UInt32] = [UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)]
            for g0 in stride(from: range.lowerBound, to: range.upperBound, by: 8) {
                mesa512_lds_vectorized_lanes(n, count, noise, stateClip, sharedWT, key, UInt32(step), purpose.rawValue,
                                             UInt32(g0), min(8, range.upperBound - g0), inputs + g0 * per * bytes,
                                             targets + g0 * per * bytes, float32 ? 1 : 0, work)
            }
            return
        }
        let words = UnsafeMutablePointer<UInt32>.allocate(capacity: PhiloxBlockStream.bufferWords)
        let draws = UnsafeMutablePointer<Double>.allocate(capacity: 8 * (n * n + n + noiseCount) + max(n * n, noiseCount) + 2)
        defer { words.deallocate(); draws.deallocate() }
        let teachers = draws, initial = teachers + 8 * n * n, noises = initial + 8 * n, scratch = noises + 8 * noiseCount
        for g0 in stride(from: range.lowerBound, to: range.upperBound, by: 8) {
            let lanes = min(8, range.upperBound - g0)
            for l in 0..<lanes {
                var stream = PhiloxBlockStream(seed: seed, purpose: purpose, step: step, index: g0 + l, buffer: words)
                if sharedTeacherT == nil { stream.normals(n * n, into: teachers + l * n * n, scratch: scratch) }
                for i in 0..<n { initial[l * n + i] = stream.uniform(-1, 1) }
                stream.normals(noiseCount, into: noises + l * noiseCount, scratch: scratch)
            }
            mesa512_lds_lanes(n, count, noise, stateClip, teachers, sharedWT, initial, noises, lanes,
                              inputs + g0 * per * bytes, targets + g0 * per * bytes, float32 ? 1 : 0, work)
        }
    }

    /// `sequence(count:stream:)` after the teacher and s_1 are drawn, from the noise's normals
    /// `z` (n per step): s_{t+1} = clip(σ z_t + W s_t), every component summed over j in order
    /// as the reference does.
    private func recurrence(count: Int, wT: UnsafeMutablePointer<Double>, noise z: UnsafePointer<Double>,
                            states s: UnsafeMutablePointer<Double>, x: UnsafeMutablePointer<Double>) {
        let n = dimension, sigma = noise, clip = stateClip
        guard count > 1 else { return }
        if n <= 16 {
            // x in four vector registers; Wᵀ's rows as zero-padded 16-wide columns. The noise
            // of step t is read 16 wide (lanes ≥ n meet zero columns and are never stored).
            let columns = UnsafeMutablePointer<SIMD16<Double>>.allocate(capacity: n)
            defer { columns.deallocate() }
            for j in 0..<n {
                var c = SIMD16<Double>.zero
                for i in 0..<n { c[i] = wT[j * n + i] }
                columns[j] = c
            }
            for t in 1..<count {
                let e = UnsafeRawPointer(z + (t - 1) * n).loadUnaligned(as: SIMD16<Double>.self)
                var xs = sigma * e
                let prev = s + (t - 1) * n
                for j in 0..<n { xs = xs + columns[j] * prev[j] }
                // min(max(x, −c), c) lane by lane, as Swift's max and min pick (NaN stays NaN).
                xs.replace(with: -clip, where: xs .<= -clip)
                xs.replace(with: clip, where: xs .> clip)
                let next = s + t * n
                for i in 0..<n { next[i] = xs[i] }
            }
            return
        }
        for t in 1..<count {
            for i in 0..<n { x[i] = sigma * z[(t - 1) * n + i] }
            let prev = s + (t - 1) * n
            for j in 0..<n {
                let sj = prev[j], column = wT + j * n
                for i in 0..<n { x[i] += column[i] * sj }
            }
            let next = s + t * n
            for i in 0..<n { next[i] = min(max(x[i], -clip), clip) }
        }
    }

    /// Qᵀ of `Linalg.qr(a, n)`, bit for bit: the same Householder reflections, the same sums
    /// in the same order, with the n dot products of each reflection computed side by side.
    /// `r`, `v` and `acc` are scratch ([n, n], [n], [n]).
    static func householderQT(_ a: UnsafeMutablePointer<Double>, n: Int, r: UnsafeMutablePointer<Double>,
                              qT: UnsafeMutablePointer<Double>, v: UnsafeMutablePointer<Double>,
                              acc: UnsafeMutablePointer<Double>) {
        for i in 0..<(n * n) { r[i] = a[i]; qT[i] = 0 }
        for i in 0..<n { qT[i * n + i] = 1 }
        for j in 0..<n {
            var norm = 0.0
            for i in j..<n { norm += r[i * n + j] * r[i * n + j] }
            norm = norm.squareRoot()
            if norm == 0 { continue }
            let alpha = r[j * n + j] > 0 ? -norm : norm
            for i in 0..<n { v[i] = i < j ? 0 : r[i * n + j] }
            v[j] -= alpha
            var vv = 0.0
            for i in j..<n { vv += v[i] * v[i] }
            if vv == 0 { continue }
            let scale = 2 / vv
            // R ← (I − 2vvᵀ/vᵀv) R: s_c = Σ_i v_i r_ic for every column c at once.
            for c in 0..<n { acc[c] = 0 }
            for i in j..<n {
                let vi = v[i], row = r + i * n
                for c in 0..<n { acc[c] += vi * row[c] }
            }
            for c in 0..<n { acc[c] *= scale }
            for i in j..<n {
                let vi = v[i], row = r + i * n
                for c in 0..<n { row[c] -= acc[c] * vi }
            }
            // Q ← Q (I − 2vvᵀ/vᵀv): s_row = Σ_i q_{row,i} v_i for every row at once, on Qᵀ.
            for c in 0..<n { acc[c] = 0 }
            for i in j..<n {
                let vi = v[i], column = qT + i * n
                for c in 0..<n { acc[c] += column[c] * vi }
            }
            for c in 0..<n { acc[c] *= scale }
            for i in j..<n {
                let vi = v[i], column = qT + i * n
                for c in 0..<n { column[c] -= acc[c] * vi }
            }
        }
        for j in 0..<n where r[j * n + j] < 0 {
            for c in 0..<n { r[j * n + c] = -r[j * n + c] }
            for c in 0..<n { qT[j * n + c] = -qT[j * n + c] }
        }
    }
}
