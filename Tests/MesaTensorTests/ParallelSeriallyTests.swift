import Foundation
import Testing
import MesaTensor

/// `Parallel.serially` (one worker on the calling thread only) and the stopped OpenBLAS server
/// threads (issue 14, time to the first step).
@Suite struct ParallelSeriallyTests {
    @Test func seriallyIsOneWorkerOnThisThreadOnly() {
        Parallel.withWorkers(3) {
            #expect(Parallel.workers == 3)
            Parallel.serially {
                #expect(Parallel.workers == 1)
                // Another thread meanwhile still sees the process's count.
                final class Box: @unchecked Sendable { var value = 0 }   // written before the signal, read after the wait
                let other = Box()
                let done = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    other.value = Parallel.workers
                    done.signal()
                }
                done.wait()
                #expect(other.value == 3)
                Parallel.serially { #expect(Parallel.workers == 1) }   // nests
                #expect(Parallel.workers == 1)
            }
            #expect(Parallel.workers == 3)
        }
    }

    /// A row-parallel kernel inside `serially` gives the bits it gives split over workers.
    @Test func seriallyGivesTheSameBits() {
        var g = RandomStream(seed: 7, purpose: .experiment)
        let a = Tensor(shape: [6, 50, 40], of: Float.self) { d in for i in 0..<d.count { d[i] = Float(g.normal()) } }
        let b = Tensor(shape: [6, 40, 24], of: Float.self) { d in for i in 0..<d.count { d[i] = Float(g.normal()) } }
        let split = Parallel.withWorkers(2) { matmul(a, b).scalars(as: Float.self).map(\.bitPattern) }
        let inline = Parallel.withWorkers(2) { Parallel.serially { matmul(a, b).scalars(as: Float.self).map(\.bitPattern) } }
        #expect(split == inline)
        #expect(split.count == 6 * 50 * 24)
    }

    /// Once BLAS is configured, OpenBLAS's server threads are not running (where this OpenBLAS
    /// has them), and its products still compute: C = A B against the plain triple loop.
    @Test func openBLASServerThreadsStopped() {
        Parallel.configure()
        #expect(BLASKernels.serverThreadsRunning != true, "OpenBLAS server threads still running")
        let a = Tensor(shape: [5, 3], of: Double.self) { d in for i in 0..<d.count { d[i] = Double(i) - 4.5 } }
        let b = Tensor(shape: [3, 4], of: Double.self) { d in for i in 0..<d.count { d[i] = Double(i * i) / 7 } }
        let c = matmul(a, b).scalars(as: Double.self), x = a.scalars(as: Double.self), y = b.scalars(as: Double.self)
        for i in 0..<5 {
            for j in 0..<4 {
                var s = 0.0
                for k in 0..<3 { s += x[i * 3 + k] * y[k * 4 + j] }
                #expect(abs(c[i * 4 + j] - s) <= 1e-12 * max(1, abs(s)), "C[\(i), \(j)]")
            }
        }
    }
}
