/// Which visual tokens the engine drops or merges, composed with a plan.
///
/// Encoded (Codable) as its option string — `"none"`, `"fastv(2,0.5)"`, `"prumerge"`,
/// `"prumerge+"` — so reports stay readable and there is one spelling everywhere.
public enum TokenSelection: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Keep all 576 visual tokens.
    case none
    /// FastV: after decoder layer `k` (layers `0..<k` see every token, since their attention is
    /// what ranks the tokens), drop the visual tokens with the lowest attention, keeping a
    /// fraction `keepRatio` in (0, 1].
    case fastV(k: Int, keepRatio: Double)
    /// PruMerge: keep the IQR-outlier tokens by CLS attention, each merged with its neighbours.
    case pruMerge
    /// PruMerge+: PruMerge plus spatially uniform samples.
    case pruMergePlus

    /// FastV's own defaults (K = 2, R = 50%): the paper does not publish its values.
    public static let defaultFastV = TokenSelection.fastV(k: 2, keepRatio: 0.5)

    /// The option string: `""` for none (so a plan string carries no suffix), otherwise
    /// `"fastv(K,R)"` with R in shortest round-tripping form, `"prumerge"`, `"prumerge+"`.
    public var description: String {
        switch self {
        case .none: return ""
        case let .fastV(k, keepRatio): return "fastv(\(k),\(keepRatio))"
        case .pruMerge: return "prumerge"
        case .pruMergePlus: return "prumerge+"
        }
    }

    /// Parses an option string, case-insensitively: `"none"` (or `""`), `"fastv"` (the
    /// defaults), `"fastv(K,R)"`, `"prumerge"`, `"prumerge+"`.
    ///
    /// Also checks what does not depend on the model (K ≥ 1, R finite in (0, 1]), so a bad value
    /// is reported where it was typed; ``validate(totalLayers:)`` adds the bound on K.
    /// Throws ``AdaptiveError/invalidTokenSelection(_:)``.
    public init(parsing text: String) throws {
        let s = text.lowercased()
        switch s {
        case "", "none": self = .none
        case "fastv": self = Self.defaultFastV
        case "prumerge": self = .pruMerge
        case "prumerge+": self = .pruMergePlus
        default:
            guard s.hasPrefix("fastv("), s.hasSuffix(")"), s.count >= 7 else {
                throw AdaptiveError.invalidTokenSelection(
                    "unknown option '\(planExcerpt(text))' (expected none, fastv, fastv(K,R), prumerge or prumerge+)")
            }
            let parts = s.dropFirst(6).dropLast().split(separator: ",", omittingEmptySubsequences: false)
            // Digits only: Int("+2") would parse, but the option has one spelling.
            guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let k = Int(parts[0]), let r = Double(parts[1])
            else {
                throw AdaptiveError.invalidTokenSelection(
                    "'\(planExcerpt(text))' is not fastv(K,R) with an integer K and a number R")
            }
            self = .fastV(k: k, keepRatio: r)
            try validateValues()
        }
    }

    /// Checks the settings against a decoder of `totalLayers` layers: FastV needs
    /// `1 ≤ K < totalLayers` (some layer must remain to benefit) and a finite R in (0, 1].
    /// Throws ``AdaptiveError/invalidTokenSelection(_:)``.
    public func validate(totalLayers: Int) throws {
        try validateValues()
        if case let .fastV(k, _) = self, k >= totalLayers {
            throw AdaptiveError.invalidTokenSelection(
                "FastV K = \(k) must be below the \(totalLayers) decoder layers")
        }
    }

    /// The model-independent part of `validate`.
    private func validateValues() throws {
        guard case let .fastV(k, r) = self else { return }
        guard k >= 1 else {
            throw AdaptiveError.invalidTokenSelection("FastV K = \(k) must be at least 1")
        }
        guard r.isFinite, r > 0, r <= 1 else {
            throw AdaptiveError.invalidTokenSelection("FastV keep ratio R = \(r) must be in (0, 1]")
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        do {
            self = try TokenSelection(parsing: text)
        } catch let error as AdaptiveError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self == .none ? "none" : description)
    }
}

/// `text` cut to a readable length for error messages: parsers echo the bad part, and inputs
/// may be arbitrarily long.
func planExcerpt(_ text: some StringProtocol, limit: Int = 48) -> String {
    text.count <= limit ? String(text) : String(text.prefix(limit)) + "…"
}
