import Foundation
import Testing
import MesaExperiments
import MesaTraining
import MesaTensor

/// The issue 14 benchmarks' own arithmetic and plumbing (not their timings).
@Suite struct BenchmarkTests {
    /// The slope is the exponent of a power law, fitted over the three largest points.
    @Test func scalingSlopeIsThePowerLawExponent() {
        let values = [25, 50, 100, 200, 400, 800]
        let quadratic = values.map { 3e-6 * Double($0 * $0) }
        #expect(abs(ScalingBenchmark.slope(values, quadratic) - 2) < 1e-12)
        // A constant part at small x does not matter at the large end.
        let mixed = values.map { 0.5 + 1e-3 * Double($0) * Double($0) * Double($0) }
        #expect(abs(ScalingBenchmark.slope(values, mixed) - 3) < 0.01)
    }

    /// A step's rate against the machine's: both fractions, and "–" for a rate that was not measured.
    @Test func machinePeakStatesBothFractions() {
        let peak = MachinePeak(threads: 2, fmaGFLOPS: 500, sgemmGFLOPS: 400)
        #expect(peak.fractions(of: 100) == "20% of the FMA peak (500.0 GFLOP/s on 2 threads), 25% of sgemm 12800×240×40 (400.0 GFLOP/s)")
        #expect(MachinePeak(threads: 1, fmaGFLOPS: 0, sgemmGFLOPS: 50).fractions(of: 100)
                == "– of the FMA peak (0.0 GFLOP/s on 1 thread), 200% of sgemm 12800×240×40 (50.0 GFLOP/s)")
    }

    /// The FMA loop runs and reports a rate on every x86-64 CPU mesa builds for (AVX2 + FMA); a
    /// thread count out of range is 0, not a crash.
    @Test func fmaPeakMeasuresARate() {
        #if arch(x86_64)
        let one = FMAPeak.gflops(threads: 1, iterations: 1_000_000)
        #expect(one > 1 && one < 10_000, "\(one) GFLOP/s")
        #endif
        #expect(FMAPeak.gflops(threads: 0) == 0)
        #expect(FMAPeak.gflops(threads: 1, iterations: 0) == 0)
    }

    /// A tiny sweep writes every CSV with one row per value and one column per kind.
    @Test func scalingWritesItsCSVFiles() throws {
        let result = try ScalingBenchmark.run(batchSize: 2, repeats: 1, lengths: [4, 8], keySizes: [2, 4], depths: [1, 2],
                                              crossoverLengths: [8, 40])
        #expect(result.crossovers.map(\.kind.rawValue) == ["linear", "mesa"])
        #expect(result.crossovers.allSatisfy { $0.quadratic.count == 2 && $0.chunked.allSatisfy { $0 > 0 } })
        #expect(result.sweeps.map(\.axis) == ["T", "d_k", "depth"])
        #expect(result.sweeps.allSatisfy { $0.seconds.count == 3 && $0.seconds.allSatisfy { $0.count == 2 && $0.allSatisfy { $0 > 0 } } })
        let dir = temporaryDirectory("scaling")
        do { try result.write(to: dir) } catch {}  // figures need gnuplot; the CSV files do not
        let csv = try String(contentsOf: dir.appendingPathComponent("scaling_T.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").map(String.init).first == "T,linear_ms,softmax_ms,mesa_ms")
        #expect(csv.split(separator: "\n").count == 3)
        #expect(result.report.contains("slope") && result.report.contains("crossover measured at"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("crossover_linear.csv").path))
    }

    /// The child-process timer runs the command once per run; a failing command is an error that
    /// names it.
    @Test func firstStepTimerRunsTheCommand() throws {
        let r = try FirstStepBenchmark.run(executable: "/bin/echo", trainArguments: ["--preset", "linear-1"], runs: 2)
        #expect(r.seconds.count == 2 && r.seconds.allSatisfy { $0 > 0 && $0 < 30 })
        // echo writes no bench probe: the report says so instead of numbers.
        #expect(r.firstStepSeconds.count == 2 && r.medianFirstStepSeconds == nil && r.medianPeakResidentBytes == nil
                && r.report.contains("no bench probe"))
        #expect(throws: FirstStepBenchmark.Failure.self) {
            try FirstStepBenchmark.run(executable: "/bin/false", trainArguments: [], runs: 1)
        }
    }

    /// The data benchmark counts the batch's Box–Muller pairs: n² + n·T normals per sequence.
    @Test func dataBenchmarkCountsThePairs() throws {
        var c = try Presets.config("linear-2")
        c.batchSize = 8
        c.length = 5
        let r = try DataBenchmark.run(config: c, repeats: 1)
        #expect(r.pairs == 8 * ((100 + 50 + 1) / 2))
        #expect(r.fastCPU.count == 1 && r.fastCPU[0] > 0 && r.referenceCPU[0] > 0)
    }

    /// `mesa bench --versus`: the changed fields are named, every timed repetition gives one step
    /// per side, and the report's ratio is the median of the per-pair ratios (not the ratio of the
    /// medians).
    @Test func versusPairsStepsAndReportsTheMedianRatio() throws {
        var base = try Presets.config("linear-1")
        base.batchSize = 4
        base.length = 6
        var variant = base
        variant.microBatches = 2
        let r = try VersusBenchmark.run(base: base, variant: variant, repeats: 3, warmup: 1)
        #expect(r.changes == ["microBatches: 4 → 2"])
        #expect(r.baseSeconds.count == 3 && r.variantSeconds.count == 3 && r.baseCPU.count == 3)
        #expect(r.baseSeconds.allSatisfy { $0 > 0 } && r.variantSeconds.allSatisfy { $0 > 0 })
        #expect(r.ratios == zip(r.variantSeconds, r.baseSeconds).map { $0 / $1 })
        let same = try VersusBenchmark.run(base: base, variant: base, repeats: 1, warmup: 0)
        #expect(same.changes.isEmpty && same.report.contains("A/A"))

        // Synthetic times: medians 20 and 18 ms (ratio of medians 0.9), but the pairs' ratios are
        // 0.5, 1.2, 1.1, 0.8 and 1.0, whose median is 1.0.
        let synthetic = VersusBenchmark(base: base, variant: variant,
                                        baseSeconds: [0.040, 0.010, 0.020, 0.025, 0.018],
                                        variantSeconds: [0.020, 0.012, 0.022, 0.020, 0.018],
                                        baseCPU: [1, 1, 1, 1, 1], variantCPU: [2, 2, 2, 2, 2])
        #expect(synthetic.report.contains("B / A, per pair        1.000 (quartiles 0.800–1.100, range 0.500–1.200)"))
        #expect(synthetic.report.contains("B / A, CPU per pair    2.000"))
        #expect(synthetic.report.contains("A                         20.00 ms"))
    }
}

/// A child's output captured whole, whichever pipe it fills first.
@Suite struct CapturedProcessTests {
    /// 200 000 bytes on standard error, far past a pipe's 64 KiB, then a line on standard output:
    /// read one pipe after the other, the child would block on the full one while the reader waited
    /// for the other's end.
    @Test func aChildThatFillsStandardErrorFirstIsReadWhole() throws {
        let r = try CapturedProcess.run(URL(fileURLWithPath: "/bin/sh"),
                                        ["-c", "head -c 200000 /dev/zero | tr '\\0' e >&2; echo done; exit 3"],
                                        environment: ["MESA_CAPTURE_TEST": "1"], unset: ["HOME"])
        #expect(r.status == 3)
        #expect(r.out == "done\n")
        #expect(r.err.utf8.count == 200_000 && r.err.allSatisfy { $0 == "e" })
        let env = try CapturedProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo \"$MESA_CAPTURE_TEST:${HOME:-unset}\""],
                                          environment: ["MESA_CAPTURE_TEST": "1"], unset: ["HOME"])
        #expect(env.out == "1:unset\n")
    }
}
