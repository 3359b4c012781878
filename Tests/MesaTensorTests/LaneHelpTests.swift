import Foundation
import Testing
import MesaTensor

/// `Parallel.inLanes`: a lane that has run out of pieces helps the lanes still running theirs, by
/// taking parts of their kernels' `forEach` and `forChunks` (issue 14: the last micro-batch of a
/// step no longer leaves a core idle).
@Suite struct LaneHelpTests {
    /// Written by several threads under its own lock.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var runs: [Int: [Int]] = [:]   // part → threads that ran it (thread ids)
        private var finished = 0
        func ran(_ part: Int) {
            lock.lock(); defer { lock.unlock() }
            runs[part, default: []].append(Int(bitPattern: pthread_self()))
        }
        func pieceFinished() { lock.lock(); finished += 1; lock.unlock() }
        var piecesFinished: Int { lock.lock(); defer { lock.unlock() }; return finished }
        var parts: [Int: [Int]] { lock.lock(); defer { lock.unlock() }; return runs }
    }

    /// Waits (polling) until `condition` holds or `seconds` pass; says whether it held.
    func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(200)
        }
        return condition()
    }

    /// Piece 0 waits until the other pieces are done and its partner lane is idle, then runs 64
    /// parts of about a millisecond each: every part runs exactly once, and the idle lane runs some.
    /// (Dispatch starts the second lane on a second thread unless every thread it has is busy, as
    /// when other tests hold them; then the pieces run one after another, nobody can help, and
    /// only the exactly-once part is checked.)
    @Test(.timeLimit(.minutes(10)))
    func anIdleLaneTakesPartsOfTheLastPiece() {
        let log = Log()
        var sawWorkers = 0, lane0 = 0, concurrent = false
        Parallel.withWorkers(2) {
            Parallel.inLanes(3, lanes: 2) { piece in
                if piece == 0 {
                    lane0 = Int(bitPattern: pthread_self())
                    concurrent = eventually(5) { log.piecesFinished == 2 }
                    if concurrent {
                        #expect(eventually(10) { Parallel.workers == 2 }, "the other lane is idle, so it counts as a worker")
                    }
                    sawWorkers = Parallel.workers
                    Parallel.forEach(64) { part in
                        usleep(1000)
                        log.ran(part)
                    }
                } else {
                    log.pieceFinished()
                }
            }
        }
        let parts = log.parts
        #expect(parts.count == 64)
        #expect(parts.values.allSatisfy { $0.count == 1 }, "a part ran twice")
        if concurrent {
            let helped = parts.values.filter { $0[0] != lane0 }.count
            #expect(helped >= 1, "no part ran on the idle lane")
            #expect(sawWorkers == 2)
        }
        // Outside the lanes the count is the process's again.
        #expect(Parallel.withWorkers(2) { Parallel.workers } == 2)
    }

    /// While every lane runs a piece, a kernel's parts stay on its own lane: one worker.
    @Test(.timeLimit(.minutes(10)))
    func busyLanesDoNotShare() {
        let log = Log()
        let started = Log()
        Parallel.withWorkers(2) {
            Parallel.inLanes(2, lanes: 2) { piece in
                started.pieceFinished()   // counts lanes that have started
                _ = eventually(5) { started.piecesFinished == 2 }
                #expect(Parallel.workers == 1)
                let me = Int(bitPattern: pthread_self())
                Parallel.forChunks(40, perWorker: 4) { range in
                    for i in range { log.ran(piece * 100 + i) }
                    #expect(Int(bitPattern: pthread_self()) == me)
                }
                // Hold the lane until both have shared (or not) their parts.
                log.pieceFinished()
                _ = eventually(5) { log.piecesFinished == 2 }
            }
        }
        #expect(log.parts.count == 80)
        #expect(log.parts.values.allSatisfy { $0.count == 1 })
    }

    /// Kernels nested in shared parts, unequal pieces, many rounds, two and three lanes (three on a
    /// two-core machine: Dispatch may start a lane only after another has returned, and a helper
    /// waiting for a lane that has not started would wait forever): every element once, no
    /// deadlock, and a product computed inside helped lanes has the bits it has outside them.
    @Test(.timeLimit(.minutes(10)))
    func nestedPartsAndTheSameBits() {
        var g = RandomStream(seed: 11, purpose: .experiment)
        let a = Tensor(shape: [8, 50, 40], of: Float.self) { d in for i in 0..<d.count { d[i] = Float(g.normal()) } }
        let b = Tensor(shape: [8, 40, 24], of: Float.self) { d in for i in 0..<d.count { d[i] = Float(g.normal()) } }
        let reference = Parallel.withWorkers(1) { matmul(a, b).scalars(as: Float.self).map(\.bitPattern) }
        for round in 0..<20 {
            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: 7 * 300)
            counts.initialize(repeating: 0, count: 7 * 300)
            defer { counts.deallocate() }
            final class Results: @unchecked Sendable { var bits = [[UInt32]](repeating: [], count: 7) }
            let results = Results()
            Parallel.withWorkers(2 + round % 2) {
                Parallel.inLanes(7, lanes: 2 + round % 2) { piece in
                    // Pieces of unequal length, so lanes run out at different times.
                    if piece % 3 == 0 { usleep(UInt32(200 * (piece + 1))) }
                    Parallel.forChunks(300, perWorker: 4) { range in
                        Parallel.forEach(range.count) { j in
                            incrementLocked(counts + piece * 300 + range.lowerBound + j)
                        }
                    }
                    results.bits[piece] = matmul(a, b).scalars(as: Float.self).map(\.bitPattern)
                }
            }
            for i in 0..<(7 * 300) where counts[i] != 1 {
                Issue.record("round \(round): element \(i) ran \(counts[i]) times")
                break
            }
            #expect(results.bits.allSatisfy { $0 == reference }, "round \(round)")
        }
    }
}

/// An increment under a lock (the parts of one piece may run on two threads at once).
private func incrementLocked(_ p: UnsafeMutablePointer<Int32>) {
    let lock = atomicLock
    lock.lock()
    p.pointee += 1
    lock.unlock()
}
private let atomicLock = NSLock()
