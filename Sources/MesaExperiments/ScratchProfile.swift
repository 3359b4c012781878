import Foundation
import MesaNN
import MesaTensor

public enum ScratchProfile {
    public static func run() {
        ScratchKernelTiming.run()
        func r(_ s: [Int], _ seed: UInt64) -> Tensor {
            var st = RandomStream(seed: seed, purpose: .experiment)
            return Tensor.normal(shape: s, std: 1, dtype: .float32, stream: &st)
        }
        let x = r([256, 50, 40], 1), w = r([80, 40], 2), p = r([40, 80], 3)
        let q = r([256, 50, 80], 4), k = r([256, 50, 80], 5), v = r([256, 50, 80], 6)
        func faults() -> Int { var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u); return u.ru_minflt }
        func t(_ name: String, _ body: () -> Void) {
            let f0 = faults()
            let m = medianTime(repeats: 30, warmup: 3, body).median
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0), String(format: "%.3f ms", m * 1e3), "faults/call", (faults() - f0) / 33)
        }
        t("linear x W_Q") { _ = linear(x, w) }
        t("linear o P") { _ = linear(q, p) }
        t("linBwdInput") { _ = linearBackwardInput(q, w) }
        t("linBwdWeight") { _ = linearBackwardWeight(q, x) }
        let (o, a) = linearAttentionForward(q: q, k: k, v: v, heads: 4)
        t("attn fwd") { _ = linearAttentionForward(q: q, k: k, v: v, heads: 4) }
        t("attn bwd") { _ = linearAttentionBackward(dOut: o, q: q, k: k, v: v, scores: a, heads: 4) }
        for bb in [4, 16, 64, 256] {
            let q = r([bb, 50, 80], 4), k = r([bb, 50, 80], 5), v = r([bb, 50, 80], 6)
            let m = medianTime(repeats: 50, warmup: 3) { _ = linearAttentionForward(q: q, k: k, v: v, heads: 4) }.median
            print("attn fwd B=\(bb): per job \(m / Double(bb * 4) * 1e6 * Double(Parallel.workers)) us·threads")
        }
        t("add") { _ = x + x }
        t("clip") { _ = clip(x, 1.5) }
        t("clipBwd") { _ = clipBackward(x, x, 1.5) }
        var y = x
        t("addScaled") { y.addScaled(x) }
        t("columns") { _ = columns(x, 0..<10) }
        t("sumsq") { _ = x.sumOfSquares() }
    }
}
