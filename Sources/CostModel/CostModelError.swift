import LLaVAModel

/// Errors of the CostModel module: bad input to a fit or a prediction, reported by the CLI as
/// `error: …` with exit status 2.
public enum CostModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The profile has no fitted model for an op at this phase and thread count.
    case notProfiled(op: OpName, phase: Phase, threads: Int, available: [String])
    /// Too few points to fit anything.
    case tooFewPoints(op: OpName, phase: Phase, threads: Int, points: Int, needed: Int)
    /// No samples at all (empty profile, or none for this model).
    case noSamples(String)
    /// The query cannot be predicted (bad plan, non-positive lengths …).
    case invalidQuery(String)
    /// The model's shapes are unknown (not a preset name and no config given).
    case unknownModel(String)
    /// A stored model's JSON does not decode.
    case badModelJSON(String)
    /// GSL refused the fit (singular system, …).
    case fitFailed(String)

    public var description: String {
        switch self {
        case let .notProfiled(op, phase, threads, available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "the cost model has no fit for \(op.rawValue) \(phase.rawValue) at \(threads) thread(s); profile it first (fitted: \(list))"
        case let .tooFewPoints(op, phase, threads, points, needed):
            return "\(op.rawValue) \(phase.rawValue) at \(threads) thread(s): \(points) idle point(s), need at least \(needed) to fit"
        case .noSamples(let what): return "no profile samples to fit: \(what)"
        case .invalidQuery(let why): return "cannot predict this request: \(why)"
        case .unknownModel(let name):
            return "model '\(name)' is not a preset (\(Preset.names.joined(separator: ", "))): the cost model needs its shapes"
        case .badModelJSON(let why): return "stored cost model does not decode: \(why)"
        case .fitFailed(let why): return "least-squares fit failed: \(why)"
        }
    }
}
