import Foundation
import MesaNN
import MesaTensor

/// The score core alone (`mesa bench --score-core`): one forward (weights kept) and one
/// backward of every (sequence, head) of a batch, B 256, H 4, T 50, d_k = d_v = 20 by default,
/// Float32, linear and softmax, with the portable Swift kernels and the AVX-512 ones alternating
/// in one process, in CPU time of the calling thread (one thread: robust to other load). The
/// paired ratio (AVX-512 / portable of the same repetition) is the figure to read.
public struct ScoreCoreBenchmark {
    public struct Kind {
        public let softmax: Bool
        public let portable: [Double], wide: [Double]
        /// wide / portable of each repetition.
        public var ratios: [Double] { zip(wide, portable).map { $0 / $1 } }
    }
    public let batch: Int, heads: Int, length: Int, width: Int, repeats: Int
    public let kinds: [Kind]

    public static func run(batch: Int = 256, heads: Int = 4, length: Int = 50, width: Int = 20,
                           repeats: Int) -> ScoreCoreBenchmark? {
        guard ScoreKernels.available else { return nil }
        let (t, d, rowStride) = (length, width, heads * width)
        let count = batch * t * rowStride
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
        }
        var s = RandomStream(seed: 1, purpose: .experiment)
        let scale = 1 / Double(d).squareRoot()
        let (q, k, v, dOut) = (buffer(count), buffer(count), buffer(count), buffer(count))
        let (gq, gk, gv, out) = (buffer(count), buffer(count), buffer(count), buffer(count))
        for i in 0..<count {
            q[i] = Float(s.normal() * scale); k[i] = Float(s.normal() * scale)
            v[i] = Float(s.normal()); dOut[i] = Float(s.normal())
        }
        let tp = (t + 7) & ~7
        let scratch = buffer(ScoreKernels.headScratchCount(length: t, keySize: d, valueSize: d))
        let weights = buffer(t * tp)
        defer { for p in [q, k, v, dOut, gq, gk, gv, out, scratch, weights] { p.deallocate() } }
        func pass(softmax: Bool, wide: Bool) -> Double {
            DataBenchmark.cpuTime {
                for b in 0..<batch {
                    for h in 0..<heads {
                        let o = b * t * rowStride + h * d
                        let head = HeadView(length: t, keySize: d, valueSize: d, q: q + o, k: k + o, qkStride: rowStride,
                                            v: v + o, vStride: rowStride)
                        let grad = HeadView(length: t, keySize: d, valueSize: d, q: gq + o, k: gk + o,
                                            qkStride: rowStride, v: gv + o, vStride: rowStride)
                        ScoreKernels.headForward(softmax: softmax, wide: wide, head, out: out + o, outStride: rowStride,
                                                 scratch: scratch, weights: weights)
                        ScoreKernels.headBackward(softmax: softmax, wide: wide, head, dOut: dOut + o, doutStride: rowStride,
                                                  grad: grad, scratch: scratch, weights: weights)
                    }
                }
            }
        }
        var kinds: [Kind] = []
        for softmax in [false, true] {
            var portable: [Double] = [], wide: [Double] = []
            for rep in 0..<(repeats + 1) {
                // Alternate which goes first, so that a drift of the machine hits both alike.
                let first = rep % 2 == 0
                let a = pass(softmax: softmax, wide: !first), b = pass(softmax: softmax, wide: first)
                let (p, w) = first ? (a, b) : (b, a)
                if rep > 0 { portable.append(p); wide.append(w) }
            }
            kinds.append(Kind(softmax: softmax, portable: portable, wide: wide))
        }
        return ScoreCoreBenchmark(batch: batch, heads: heads, length: length, width: width, repeats: repeats, kinds: kinds)
    }

    /// What `mesa bench --score-core` says on a CPU without AVX-512.
    public static var unavailable: String {
        "score core: this CPU has no AVX-512; only the portable kernels run (\(ScoreKernels.description))"
    }

    public var report: String {
        func ms(_ x: [Double]) -> String {
            String(format: "%.2f ms (range %.2f–%.2f)", StepBenchmark.median(x) * 1e3, x.min()! * 1e3, x.max()! * 1e3)
        }
        var lines = ["score core alone: forward + backward of B \(batch) × H \(heads) heads, T \(length), d_k = d_v \(width), "
                     + "Float32, one thread's CPU time, median of \(repeats) alternating repetitions"]
        for kind in kinds {
            let r = kind.ratios
            lines.append("  \(kind.softmax ? "softmax" : "linear ")  portable \(ms(kind.portable))   avx512 \(ms(kind.wide))   "
                         + String(format: "avx512/portable %.3f (range %.3f–%.3f)", StepBenchmark.median(r), r.min()!, r.max()!))
        }
        return lines.joined(separator: "\n")
    }
}
