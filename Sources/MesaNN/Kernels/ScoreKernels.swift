import CSupport
import Foundation
import MesaTensor

/// Which kernels run the score core's Float32 products and softmax rows (causalScores,
/// causalMix, causalMixTransposed, causalSoftmaxRows, causalSoftmaxBackwardRows) and its
/// panel gathers and scatters (gatherRows, gatherTransposed, scatterRows): the
/// 16-lane AVX-512 versions in CSupport's scorecore512.c when the CPU has AVX-512 F/BW/DQ/VL
/// (checked once, with CPUID), else the portable 8-lane Swift kernels. Both give the same bits
/// (Tests/MesaNNTests/WideKernelTests.swift). `MESA_KERNELS=portable` forces the Swift kernels
/// (A/B benchmarks); Double always runs the Swift kernels. On the AVX-512 path the score core
/// (and MesaCore's quadratic form) read the q/k/v/dO rows and write their results in place, with
/// the strided kernels (no row panels; only the transposed kT, vT are copied).
public enum ScoreKernels {
    /// Whether this CPU can run the AVX-512 kernels.
    public static var available: Bool { KernelChoice.cpuHasAVX512 }

    /// Whether the AVX-512 kernels run (`KernelChoice.avx512`; a bad MESA_KERNELS stops here if
    /// `mesa`'s start-up check did not catch it first).
    public static let wide: Bool = {
        if let problem = environmentProblem { fatalError(problem) }
        return KernelChoice.avx512
    }()

    /// What is wrong with MESA_KERNELS, or nil (`mesa` checks this at start-up, before any work).
    public static var environmentProblem: String? { KernelChoice.environmentProblem }

    /// One line for reports: which score-core kernels run.
    public static var description: String {
        if wide { return "avx512 (16-lane Float32 score core; MESA_KERNELS=portable for the Swift kernels)" }
        return available ? "portable (MESA_KERNELS=portable; this CPU has AVX-512)" : "portable (no AVX-512 on this CPU)"
    }

    // Float32 entry points with the choice explicit, for the bit-for-bit tests.

    public static func causalScores(wide: Bool, x: UnsafePointer<Float>, yT: UnsafePointer<Float>, length: Int,
                                    width: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.causalScores(x: x, yT: yT, length: length, width: width, scale: scale, into: out, wide: wide)
    }

    public static func causalMix(wide: Bool, _ a: UnsafePointer<Float>, _ v: UnsafePointer<Float>, length: Int,
                                 width: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.causalMix(a, v, length: length, width: width, into: out, wide: wide)
    }

    public static func causalMixTransposed(wide: Bool, _ a: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                           length: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.causalMixTransposed(a, g, length: length, width: width, into: out, wide: wide)
    }

    public static func causalSoftmaxRows(wide: Bool, _ a: UnsafeMutablePointer<Float>, length: Int) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.causalSoftmaxRows(a, length, wide: wide)
    }

    public static func causalSoftmaxBackwardRows(wide: Bool, _ a: UnsafePointer<Float>,
                                                 _ dA: UnsafeMutablePointer<Float>, length: Int) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.causalSoftmaxBackwardRows(a, dA, length, wide: wide)
    }

    public static func gatherRows(wide: Bool, _ src: UnsafePointer<Float>, stride: Int, rows: Int, width: Int,
                                  into dst: UnsafeMutablePointer<Float>) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.gatherRows(src, stride: stride, rows: rows, width: width, into: dst, wide: wide)
    }

    public static func gatherTransposed(wide: Bool, _ src: UnsafePointer<Float>, stride: Int, rows: Int, width: Int,
                                        into dst: UnsafeMutablePointer<Float>) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.gatherTransposed(src, stride: stride, rows: rows, width: width, into: dst, wide: wide)
    }

    public static func scatterRows(wide: Bool, _ src: UnsafePointer<Float>, rows: Int, width: Int, scale: Float,
                                   into dst: UnsafeMutablePointer<Float>, stride: Int) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        MesaNN.scatterRows(src, rows: rows, width: width, scale: scale, into: dst, stride: stride, wide: wide)
    }

    // The in-place (strided) products of the AVX-512 path against what they replace: with
    // `wide: false` the portable composition gatherRows → panel kernel → scatterRows (the path
    // the Swift kernels take), with `wide: true` the one strided AVX-512 kernel. Rows at any
    // stride; only columns < width are read or written.

    /// S = scale · tril(x yᵀ) with x rows at `xStride` (yT: [width][tp] panel, S: [T][tp]).
    public static func causalScoresStrided(wide: Bool, x: UnsafePointer<Float>, xStride: Int, yT: UnsafePointer<Float>,
                                           length t: Int, width d: Int, scale: Float,
                                           into out: UnsafeMutablePointer<Float>) {
        if wide {
            precondition(available, "AVX-512 kernels asked for on a CPU without AVX-512")
            mesa512_causal_scores_strided(x, xStride, yT, t, d, scale, out)
            return
        }
        let rows = PanelScratch<Float>(capacity: max(t * roundUp8(d), 8))
        let xp = rows.panel(t * roundUp8(d))
        MesaNN.gatherRows(x, stride: xStride, rows: t, width: d, into: xp, wide: false)
        MesaNN.causalScores(x: xp, yT: yT, length: t, width: d, scale: scale, into: out, wide: false)
    }

    /// out = scale · the causal mix of A (or its transpose) with v rows at `vStride`, written
    /// to rows at `outStride`.
    public static func causalMixStrided(wide: Bool, transposed: Bool, _ a: UnsafePointer<Float>,
                                        _ v: UnsafePointer<Float>, vStride: Int, length t: Int, width d: Int,
                                        scale: Float, into out: UnsafeMutablePointer<Float>, outStride: Int) {
        if wide {
            precondition(available, "AVX-512 kernels asked for on a CPU without AVX-512")
            if transposed {
                mesa512_causal_mix_transposed_strided(a, v, vStride, t, d, scale, out, outStride)
            } else {
                mesa512_causal_mix_strided(a, v, vStride, t, d, scale, out, outStride)
            }
            return
        }
        let n = t * roundUp8(d), rows = PanelScratch<Float>(capacity: max(2 * n + 16, 8))
        let vp = rows.panel(n), result = rows.panel(n)
        MesaNN.gatherRows(v, stride: vStride, rows: t, width: d, into: vp, wide: false)
        if transposed {
            MesaNN.causalMixTransposed(a, vp, length: t, width: d, into: result, wide: false)
        } else {
            MesaNN.causalMix(a, vp, length: t, width: d, into: result, wide: false)
        }
        MesaNN.scatterRows(result, rows: t, width: d, scale: scale, into: out, stride: outStride, wide: false)
    }

    /// Scratch elements one head of the score core needs (64-byte-aligned base).
    public static func headScratchCount(length: Int, keySize: Int, valueSize: Int) -> Int {
        ScorePanels<Float>.count(length: length, keySize: keySize, valueSize: valueSize)
    }

    /// The score core's forward of one head (linear or softmax) with the kernels chosen.
    public static func headForward(softmax: Bool, wide: Bool, _ h: HeadView<Float>, out: UnsafeMutablePointer<Float>,
                                   outStride: Int, scratch: UnsafeMutablePointer<Float>,
                                   weights: UnsafeMutablePointer<Float>?) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        scoreCoreForward(softmax: softmax, h, out: out, outStride: outStride, scratch: scratch, weights: weights,
                         wide: wide)
    }

    /// The score core's backward of one head with the kernels chosen (`weights`: the forward's, or nil).
    public static func headBackward(softmax: Bool, wide: Bool, _ h: HeadView<Float>, dOut: UnsafePointer<Float>,
                                    doutStride: Int, grad: HeadView<Float>, scratch: UnsafeMutablePointer<Float>,
                                    weights: UnsafePointer<Float>?) {
        precondition(!wide || available, "AVX-512 kernels asked for on a CPU without AVX-512")
        scoreCoreBackward(softmax: softmax, h, dOut: dOut, doutStride: doutStride, grad: grad, scratch: scratch,
                          weights: weights, wide: wide)
    }
}

@inline(__always)
func asFloat<S: TensorScalar>(_ p: UnsafePointer<S>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}

@inline(__always)
func asFloat<S: TensorScalar>(_ p: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}
