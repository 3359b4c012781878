/// What can go wrong in the [ZH] experiments, said in terms a user can act on.
public enum TheoryError: Error, CustomStringConvertible, Equatable {
    /// A setting outside its domain (d < 1, T < 3, σ ≤ 0, a non-finite step size, …).
    case invalid(String)
    /// Gradient descent left the basin: the loss became non-finite or grew without bound.
    case diverged(step: Int, loss: Double, stepSize: Double)

    public var description: String {
        switch self {
        case let .invalid(why): return "invalid setting: \(why)"
        case let .diverged(step, loss, stepSize):
            return "gradient descent diverged at step \(step) (loss \(loss)) with step size \(stepSize); use a smaller step size"
        }
    }
}
