import CBLAS
import CSupport
import Dispatch
import Foundation

/// How mesa uses the cores: BLAS runs single-threaded, and kernels split their work over
/// the batch (rows, sequences or heads) themselves. On this project's 2-core machines two
/// single-threaded GEMMs on half the rows each run ~1.7x faster than one two-threaded GEMM
/// on the small, tall matrices these models multiply (see BENCHMARKS.md).
///
/// Results do not depend on the number of threads: row-parallel kernels compute every
/// output element the same way whatever the split, and reductions over rows always use
/// `reductionParts` fixed partial sums added in a fixed order. BLAS products are the exception
/// to "whatever the split" (a call's row count can choose OpenBLAS's kernel), so they cut their
/// rows by the shape alone (`productRowParts`), never by `workers`, which inside a lane changes
/// from moment to moment.
public enum Parallel {
    /// Number of worker threads: the cores, or MESA_THREADS when set, or the count of the innermost
    /// `withWorkers` scope in progress.
    public static var workers: Int {
        if pthread_getspecific(serialKey) != nil { return 1 + (currentCrew?.idleLanes ?? 0) }
        overrideLock.lock()
        defer { overrideLock.unlock() }
        return override ?? defaultWorkers
    }

    static let defaultWorkers: Int = {
        configureBLAS
        if let s = ProcessInfo.processInfo.environment["MESA_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// Runs `body` with `count` workers (at least 1), then restores the previous count. Lets one
    /// process compare thread counts (the determinism tests). Scopes are serialized: a second one,
    /// on any thread, waits until the first has ended, so each runs with the count it asked for.
    public static func withWorkers<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        _ = defaultWorkers  // BLAS single-threaded before anything runs
        scopeLock.lock()
        defer { scopeLock.unlock() }
        overrideLock.lock()
        let previous = override
        override = max(1, count)
        overrideLock.unlock()
        defer {
            overrideLock.lock()
            override = previous
            overrideLock.unlock()
        }
        return try body()
    }

    /// Held for the whole of a `withWorkers` scope (recursive: scopes may nest on one thread).
    private static let scopeLock = NSRecursiveLock()
    /// Guards `override`, which kernels on any thread read.
    private static let overrideLock = NSLock()
    nonisolated(unsafe) private static var override: Int?

    /// Runs `body` with every kernel it calls on this thread running inline, on one worker,
    /// whatever `workers` is on other threads: for a caller that spreads independent pieces of
    /// work (held-out evaluation chunks) over the cores itself. Results are the same bits either way.
    public static func serially<R>(_ body: () throws -> R) rethrows -> R {
        try inLane(of: nil, body)
    }

    /// `serially`, with this thread one of `crew`'s lanes (nil: no crew, no help).
    static func inLane<R>(of crew: LaneCrew?, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, crew.map { UnsafeRawPointer(Unmanaged.passUnretained($0).toOpaque()) }
                                            ?? UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// The crew of the lane this thread runs, if any (its idle lanes take part in its kernels).
    @usableFromInline
    static var currentCrew: LaneCrew? {
        guard let lane = pthread_getspecific(serialKey) else { return nil }
        return LaneCrew.of(UnsafeRawPointer(lane))
    }

    /// Thread-local value behind `serially` and `inLanes` (non-nil: this thread's kernels run on
    /// it, helped only by its crew's idle lanes; 1: no crew).
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Fixed number of partial sums for reductions over rows (independent of `workers`).
    public static let reductionParts = 4

    static let configureBLAS: Void = {
        openblas_set_num_threads(1)
        // A training step frees and reallocates the same large buffers every step; fresh
        // pages from mmap would cost a page fault per 4 KiB (several ms a step at B = 256).
        mesa_keep_freed_memory()
        // Nothing asks OpenBLAS for threads, so its server threads would only spin (BENCHMARKS.md,
        // "time to first step, stop 10": 9% of a 1-step hybrid-mesa run's CPU samples).
        mesa_stop_idle_blas_threads()
    }()

    /// Makes BLAS single-threaded now and stops OpenBLAS's idle threads (command-line tools call
    /// it first thing; kernels do it on first use anyway).
    public static func configure() { _ = configureBLAS }

    /// Runs `body(i)` for every i in 0..<n, spread over the workers.
    @inlinable
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        if n > 1, let crew = currentCrew {
            crew.share(n, body)
        } else if n <= 1 || workers == 1 {
            for i in 0..<n { body(i) }
        } else {
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
        }
    }

    /// Runs `body(i)` for every i in 0..<count: on `lanes` threads (at most the workers) that each
    /// take the next i as they come free and run its kernels (`serially`), or in order on this
    /// thread when `lanes` ≤ 1. A lane that finds no piece left helps the others: their kernels'
    /// `forEach` and `forChunks` share their parts with it until every piece is done, so the
    /// last piece does not leave a core idle. For independent pieces of work (held-out evaluation
    /// chunks, the micro-batches of a step): kernels give the same bits on any number of threads,
    /// so the results do not depend on which lane ran which piece or who helped.
    public static func inLanes(_ count: Int, lanes: Int, _ body: (Int) -> Void) {
        if lanes <= 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let next = LaneCounter(count)
        let width = min(lanes, count)
        let crew = LaneCrew()
        withExtendedLifetime(crew) {
            forEach(width) { _ in
                crew.laneStarts()
                inLane(of: crew) {
                    while let i = next.claim() { body(i) }
                }
                crew.helpUntilEveryLaneIsDone()
            }
        }
    }

    /// Splits 0..<count into `parts` contiguous ranges of near-equal size (some may be empty).
    public static func split(_ count: Int, parts: Int) -> [Range<Int>] {
        let p = max(1, parts)
        return (0..<p).map { i in (count * i / p)..<(count * (i + 1) / p) }
    }

    /// Runs `body` on contiguous chunks of 0..<count, `perWorker` chunks per worker (taken by
    /// whichever worker is free next, so a core slowed by other work, such as the next batch's
    /// prefetch, takes fewer), skipping the threads when there is less than `grain` work per chunk.
    /// Callers whose chunks are independent get the same results for any split.
    @inlinable
    public static func forChunks(_ count: Int, grain: Int = 1, perWorker: Int = 1, _ body: (Range<Int>) -> Void) {
        let w = workers
        if w == 1 || count <= 1 { body(0..<count); return }
        let parts = max(1, min(w * max(1, perWorker), count / max(1, grain)))
        if parts == 1 { body(0..<count); return }
        let ranges = split(count, parts: parts)
        if let crew = currentCrew {
            crew.share(parts) { body(ranges[$0]) }
        } else {
            DispatchQueue.concurrentPerform(iterations: parts) { body(ranges[$0]) }
        }
    }
}

/// The lanes of one `Parallel.inLanes` call. A lane that has run out of pieces waits here as a
/// helper; a lane still running a piece hands the parts of its kernels' `forEach`/`forChunks`
/// to the helpers and takes parts itself, in the order they come, and returns when all are done.
/// Parts are independent (that is what the two functions promise their callers), so who runs
/// which part does not change a bit.
@usableFromInline
final class LaneCrew: @unchecked Sendable {
    private let condition = NSCondition()
    /// Lanes waiting for parts to run (not running one now).
    private var idle = 0
    /// Lanes that have started and still run their pieces. A lane counts from its start, not from
    /// the call: Dispatch may start a lane only when another has returned (more lanes than free
    /// threads), and helpers must not wait for a lane that cannot start.
    private var running = 0
    /// Posted parts not yet all finished.
    private var jobs: [Job] = []

    private final class Job {
        let count: Int
        /// The poster's closure, set to nil (under the lock) once every part has run, before the
        /// poster's `withoutActuallyEscaping` ends: a helper still holding the job then holds no closure.
        var body: ((Int) -> Void)?
        var next = 0, unfinished: Int
        init(_ count: Int, _ body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
            unfinished = count
        }
    }

    /// A lane begins: until it runs out of pieces, helpers wait for its parts.
    func laneStarts() {
        condition.lock()
        running += 1
        condition.unlock()
    }

    static func of(_ lane: UnsafeRawPointer) -> LaneCrew? {
        lane == UnsafeRawPointer(bitPattern: 1) ? nil : Unmanaged<LaneCrew>.fromOpaque(lane).takeUnretainedValue()
    }

    /// Lanes free to take a part now.
    @usableFromInline
    var idleLanes: Int {
        condition.lock()
        defer { condition.unlock() }
        return idle
    }

    /// Runs `body(i)` for i in 0..<n: on this thread alone when no lane is idle, else with the
    /// idle lanes, each taking the next i as it comes free. Returns when every i has run.
    @usableFromInline
    func share(_ n: Int, _ body: (Int) -> Void) {
        condition.lock()
        if idle == 0 {
            condition.unlock()
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let job = Job(n, body)
            jobs.append(job)
            condition.broadcast()
            while job.next < job.count { runNextPart(of: job, body) }
            while job.unfinished > 0 { condition.wait() }
            job.body = nil
            jobs.removeAll { $0 === job }
        }
        condition.unlock()
    }

    /// With the lock held: claims `job`'s next part, runs it with the lock released, and counts it
    /// done (waking the poster after the last one).
    private func runNextPart(of job: Job, _ run: (Int) -> Void) {
        let i = job.next
        job.next += 1
        condition.unlock()
        run(i)
        condition.lock()
        job.unfinished -= 1
        if job.unfinished == 0 { condition.broadcast() }
    }

    /// Called by a lane that found no piece left: runs posted parts until no lane runs a piece.
    func helpUntilEveryLaneIsDone() {
        condition.lock()
        running -= 1
        idle += 1
        condition.broadcast()
        while true {
            if let job = jobs.first(where: { $0.next < $0.count }), let run = job.body {
                idle -= 1
                runNextPart(of: job, run)
                idle += 1
            } else if running == 0 {
                break
            } else {
                condition.wait()
            }
        }
        idle -= 1
        condition.unlock()
    }
}


/// The next piece of `Parallel.inLanes` nobody has taken.
private final class LaneCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int

    init(_ count: Int) { self.count = count }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}
