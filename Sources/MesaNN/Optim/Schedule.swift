import RealModule

/// Learning rate: linear warm-up from 0 to `peak` over `warmupSteps`, then cosine decay
/// from `peak` to `final` over the `horizon` steps that follow, then `final` (SPEC §3).
/// The horizon is its own setting, independent of how long a run trains.
public struct WarmupCosineSchedule: Codable, Equatable, Sendable {
    public var peak: Double
    public var warmupSteps: Int
    public var horizon: Int
    public var final: Double

    public init(peak: Double = 3e-4, warmupSteps: Int = 1000, horizon: Int = 20_000, final: Double = 1e-5) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.horizon = horizon
        self.final = final
    }

    /// The rate used for the update of step `step` (0-based).
    public func callAsFunction(_ step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(warmupSteps) }
        let s = Double(step - warmupSteps)
        guard horizon > 0, s < Double(horizon) else { return final }
        return final + (peak - final) * 0.5 * (1 + Double.cos(Double.pi * s / Double(horizon)))
    }
}
