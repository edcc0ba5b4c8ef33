import CGSL
import Foundation

/// The verdict of a run against an adherence target, and the process exit status it maps to.
public enum Verdict: String, Codable, Sendable {
    /// The one-sided lower confidence bound on the met rate reaches the target.
    case pass
    /// The one-sided *upper* confidence bound on the met rate is below the target: the run
    /// shows, with the same confidence, that the schedule does not reach it.
    case fail
    /// Neither: the run is consistent with both. `Adherence.requestsToPass` says how long a
    /// run with no further misses would have to be.
    case undecided = "too-few-requests"

    /// 0 pass, 1 fail, 2 too few requests to decide.
    public var exitCode: Int32 {
        switch self {
        case .pass: return 0
        case .fail: return 1
        case .undecided: return 2
        }
    }
}

/// Budget adherence of `met` out of `total` requests, with exact (Clopper–Pearson) one-sided
/// binomial bounds — the MLPerf early-stopping criterion: a run passes a target `p` at
/// confidence `c` when, were the true met rate below `p`, seeing this few misses would have
/// probability below `1 − c`.
///
/// At target 0.99 and confidence 0.99: with 0 misses a pass needs ≥ 459 requests; with 3
/// misses ≥ 1001 (at exactly 1000 the bound is 0.989990, a hair short of 0.99); 200 requests
/// with no miss can claim ≥ 97.72%.
public struct Adherence: Codable, Sendable, Equatable {
    public var total: Int
    public var met: Int
    public var confidence: Double
    public var target: Double

    public init(met: Int, total: Int, target: Double = 0.99, confidence: Double = 0.99) {
        precondition(total >= 0 && (0...max(total, 0)).contains(met), "met \(met) of \(total)")
        self.met = met; self.total = total; self.target = target; self.confidence = confidence
    }

    public var misses: Int { total - met }
    /// Observed share met (0 for an empty run).
    public var metShare: Double { total == 0 ? 0 : Double(met) / Double(total) }

    /// The adherence this run can claim: the largest p with P(≥ met successes | p) ≥ 1 − c, i.e.
    /// the Clopper–Pearson one-sided lower bound `Beta⁻¹(1 − c; met, misses + 1)` (0 if none met).
    public var lowerBound: Double { Self.lowerBound(met: met, total: total, confidence: confidence) }

    /// One-sided upper bound on the met rate, `Beta⁻¹(c; met + 1, misses)` (1 if nothing missed).
    public var upperBound: Double {
        guard total > 0 else { return 1 }
        guard misses > 0 else { return 1 }
        return Self.betaQuantile(confidence, Double(met + 1), Double(misses))
    }

    public static func lowerBound(met: Int, total: Int, confidence: Double) -> Double {
        guard met > 0 else { return 0 }
        return betaQuantile(1 - confidence, Double(met), Double(total - met + 1))
    }

    /// GSL's default error handler aborts the process; switch it off once, so a failure comes
    /// back as NaN and the fallback below takes over.
    private static let gslErrorsOff: Void = { _ = gsl_set_error_handler_off() }()

    /// The p-quantile of Beta(a, b): GSL's inverse, or — where its Newton iteration fails to
    /// converge (very lopsided a, b) — bisection on GSL's CDF, which is monotone in x.
    static func betaQuantile(_ p: Double, _ a: Double, _ b: Double) -> Double {
        _ = gslErrorsOff
        let x = gsl_cdf_beta_Pinv(p, a, b)
        if x.isFinite, (0...1).contains(x) { return x }
        var lo = 0.0, hi = 1.0
        for _ in 0..<200 where hi - lo > 1e-15 {
            let mid = (lo + hi) / 2
            if gsl_cdf_beta_P(mid, a, b) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    public var verdict: Verdict {
        if total > 0 && lowerBound >= target { return .pass }
        if total > 0 && upperBound < target { return .fail }
        return .undecided
    }

    /// The smallest run length with this run's misses (and no more) that passes: the MLPerf
    /// early-stopping table. nil when the target or confidence is 1 (no finite run passes).
    public var requestsToPass: Int? { Self.requestsToPass(misses: misses, target: target, confidence: confidence) }

    /// Smallest n with `lowerBound(met: n − misses, total: n) ≥ target`. The bound rises with n
    /// at fixed misses, so a doubling search then bisection finds it exactly.
    public static func requestsToPass(misses: Int, target: Double, confidence: Double) -> Int? {
        guard target < 1, confidence < 1, misses >= 0 else { return nil }
        func passes(_ n: Int) -> Bool { lowerBound(met: n - misses, total: n, confidence: confidence) >= target }
        var hi = max(misses + 1, 16)
        while !passes(hi) {
            guard hi < 1 << 40 else { return nil }
            hi *= 2
        }
        var lo = misses  // never passes: nothing met
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if passes(mid) { hi = mid } else { lo = mid }
        }
        return hi
    }

    /// "≥ 97.7% with 99% confidence" — the claim, rounded *down* so it is never overstated.
    public var claim: String {
        "≥ \(Self.percentDown(lowerBound)) with \(Self.percent(confidence)) confidence"
    }

    /// One sentence stating the verdict and what the run supports.
    public var summary: String {
        let base = "\(met) of \(total) within budget (\(String(format: "%.2f", 100 * metShare))%); adherence \(claim)"
        switch verdict {
        case .pass:
            return "\(base): PASS (target \(Self.percent(target)))"
        case .fail:
            return "\(base): FAIL (target \(Self.percent(target)); upper bound \(Self.percentDown(upperBound)))"
        case .undecided:
            let need = requestsToPass.map { "a pass needs ≥ \($0) requests with no further miss" } ?? "no finite run passes"
            return "\(base): TOO FEW REQUESTS to decide at target \(Self.percent(target)) (\(need))"
        }
    }

    static func percent(_ x: Double) -> String {
        let p = 100 * x
        return p == p.rounded() ? "\(Int(p))%" : String(format: "%g%%", p)
    }

    /// One decimal, rounded down (0.977237 → 97.7%, 0.989990 → 98.9%).
    static func percentDown(_ x: Double) -> String {
        // 1e-9 keeps binary noise (0.99 · 1000 = 989.999…) from rounding a grid value down.
        String(format: "%.1f%%", (1000 * x + 1e-9).rounded(.down) / 10)
    }
}
