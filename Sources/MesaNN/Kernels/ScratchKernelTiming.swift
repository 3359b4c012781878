import Foundation
import MesaTensor

public enum ScratchKernelTiming {
    public static func run() {
        let t = 50, d = 20, tp = 56, dp = 24
        let s = PanelScratch<Float>(capacity: 100_000)
        let x = s.panel(t * dp), yT = s.panel(d * tp), a = s.panel(t * tp), out = s.panel(t * dp)
        for i in 0..<(t * dp) { x[i] = Float(i % 7) * 0.1 }
        for i in 0..<(d * tp) { yT[i] = Float(i % 5) * 0.1 }
        let src = UnsafeMutablePointer<Float>.allocate(capacity: t * 80)
        for i in 0..<(t * 80) { src[i] = Float(i % 3) }
        func time(_ name: String, _ body: () -> Void) {
            let n = 20000
            for _ in 0..<100 { body() }
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { body() }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n)
            print(name, String(format: "%.3f us", dt / 1000))
        }
        time("causalScores") { causalScores(x: x, yT: yT, length: t, width: d, scale: 1, into: a) }
        time("causalMix") { causalMix(a, x, length: t, width: d, into: out) }
        time("causalMixT") { causalMixTransposed(a, x, length: t, width: d, into: out) }
        time("gatherRows") { gatherRows(src, stride: 80, rows: t, width: d, into: x) }
        time("gatherT") { gatherTransposed(src, stride: 80, rows: t, width: d, into: yT) }
        time("scatter") { scatterRows(out, rows: t, width: d, into: src, stride: 80) }
    }
}
