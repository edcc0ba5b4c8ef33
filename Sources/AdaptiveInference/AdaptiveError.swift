/// Everything that can go wrong turning a budget into a plan, or reading a plan a user wrote.
///
/// Each case says what was given and what was expected, so the CLI can print it as one
/// `error: …` line and exit with status 2.
public enum AdaptiveError: Error, Equatable, CustomStringConvertible {
    /// A budget outside [0, 1] or not a finite number.
    case invalidBudget(String)
    /// A plan string that does not parse; `reason` names the offending part.
    case invalidPlan(plan: String, reason: String)
    /// A well-formed plan that does not fit this model (wrong number of layers/units, …).
    case planDoesNotFit(plan: String, reason: String)
    /// A token-selection setting outside its range (FastV K beyond the layers, R outside (0, 1], …).
    case invalidTokenSelection(String)
    /// A knob layout that cannot be built for this model shape.
    case invalidLayout(String)

    public var description: String {
        switch self {
        case let .invalidBudget(reason): return "invalid budget: \(reason)"
        case let .invalidPlan(plan, reason): return "invalid plan '\(plan)': \(reason)"
        case let .planDoesNotFit(plan, reason): return "plan '\(plan)' does not fit this model: \(reason)"
        case let .invalidTokenSelection(reason): return "invalid token selection: \(reason)"
        case let .invalidLayout(reason): return "invalid knob layout: \(reason)"
        }
    }
}
