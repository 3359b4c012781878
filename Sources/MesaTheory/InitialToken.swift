import Numerics
import MesaTensor

/// The distribution of the initial token `x_1 ∈ C^d` of an [ZH] AR sequence (ZHENG.md §Data).
public enum InitialTokenDistribution: CustomStringConvertible {
    /// `x_1 ~ N(0, σ² I_d)`, real values.
    case gaussian(sigma: Double)
    /// `x_1 = s·c·e_k` with `k ~ U{1..d}`, `s ~ U{±1}`: one nonzero coordinate.
    case sparse(scale: Double)
    /// `x_1 = 1_d`, which violates the paper's first data condition.
    case fullOne
    /// Any other distribution: `draw(stream, d)` returns `x_1` (d values) and must use only `stream`,
    /// so that sequence n stays a pure function of (seed, n). Its moments are estimated by Monte Carlo.
    case custom(name: String, draw: (inout RandomStream, Int) -> [Complex<Double>])

    public var description: String {
        switch self {
        case let .gaussian(sigma): return "Gaussian σ = \(sigma.shortDescription)"
        case let .sparse(scale): return "sparse c = \(scale.shortDescription)"
        case .fullOne: return "full-one"
        case let .custom(name, _): return name
        }
    }

    /// A file-name-safe name, e.g. `gaussian-sigma1`.
    public var slug: String {
        switch self {
        case let .gaussian(sigma): return "gaussian-sigma\(sigma.shortDescription)"
        case let .sparse(scale): return "sparse-c\(scale.shortDescription)"
        case .fullOne: return "full-one"
        case let .custom(name, _):
            return String(name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "-" })
        }
    }

    /// Whether the paper's data condition holds (so the diagonal structure is kept and
    /// `ab → s*`); unknown (nil) for a user-supplied distribution.
    public var satisfiesDataCondition: Bool? {
        switch self {
        case .gaussian, .sparse: return true
        case .fullOne: return false
        case .custom: return nil
        }
    }

    public func validate() throws {
        switch self {
        case let .gaussian(sigma):
            guard sigma.isFinite, sigma > 0 else { throw TheoryError.invalid("Gaussian σ must be finite and positive, got \(sigma)") }
        case let .sparse(scale):
            guard scale.isFinite, scale > 0 else { throw TheoryError.invalid("sparse scale c must be finite and positive, got \(scale)") }
        case .fullOne, .custom:
            break
        }
    }

    /// Draws `x_1` from `stream`.
    public func draw(dimension d: Int, stream: inout RandomStream) -> [Complex<Double>] {
        switch self {
        case let .gaussian(sigma):
            return (0..<d).map { _ in Complex(sigma * stream.normal(), 0) }
        case let .sparse(scale):
            var x = [Complex<Double>](repeating: .zero, count: d)
            let k = stream.integer(below: d)
            x[k] = Complex(scale * stream.sign(), 0)
            return x
        case .fullOne:
            return [Complex<Double>](repeating: .one, count: d)
        case let .custom(name, draw):
            let x = draw(&stream, d)
            precondition(x.count == d, "initial-token distribution '\(name)' returned \(x.count) values for d = \(d)")
            return x
        }
    }
}

extension Double {
    /// `1`, `0.5`, `2e-06`: the shortest exact spelling, for names and captions.
    var shortDescription: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : "\(self)"
    }
}
