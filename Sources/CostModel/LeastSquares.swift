@preconcurrency import CGSL

/// How an op's coefficients were fitted. Chosen per op by held-out error.
public enum FitKind: String, Codable, Sendable, CaseIterable {
    /// Ordinary least squares (`gsl_multifit_linear`): minimises absolute error, so large
    /// shapes dominate.
    case ols
    /// Weighted least squares with weights 1/y² (`gsl_multifit_wlinear`): minimises relative
    /// error, which is what a relative budget cares about.
    case relative = "wls-relative"
    /// Weighted by measurement precision, 1/(std²/n + (1% of y)²) (`gsl_multifit_wlinear`):
    /// trusts stable points more; the 1% floor keeps a zero-variance point from dominating.
    case precision = "wls-precision"
    /// Bisquare robust regression on the relative system (`gsl_multifit_robust`): outlying
    /// points (a measurement hit by a hiccup) lose their weight.
    case robust = "robust-relative"
}

/// One linear system `y ≈ X·c` with optional weights, solved through GSL.
struct LinearSystem {
    /// Rows of X (all the same length).
    var rows: [[Double]]
    var y: [Double]

    /// Solves for `c` with `kind`; columns are scaled to unit max-abs first (GSL's SVD then
    /// sees a well-conditioned matrix whatever the feature units) and unscaled after.
    /// `sampleStd`/`sampleN` feed `.precision`. Throws `CostModelError.fitFailed`.
    /// `unweighted` drops the relative weights of `.relative`/`.robust` (for a system whose
    /// `y` is already a ratio, like the contention slowdown).
    func solve(_ kind: FitKind, sampleStd: [Double] = [], sampleN: [Int] = [], unweighted: Bool = false) throws -> [Double] {
        let n = rows.count, p = rows.first?.count ?? 0
        guard n > 0, p > 0, n >= p else { throw CostModelError.fitFailed("\(n) points for \(p) coefficients") }
        var scale = [Double](repeating: 1, count: p)
        for j in 0..<p {
            let m = rows.map { abs($0[j]) }.max() ?? 0
            if m > 0 { scale[j] = m }
        }
        var weights: [Double]
        switch kind {
        case .ols: weights = []
        case .relative, .robust: weights = y.map { unweighted ? 1 : 1 / max($0 * $0, 1e-30) }
        case .precision:
            weights = y.indices.map { i in
                let s = i < sampleStd.count ? sampleStd[i] : 0, k = i < sampleN.count ? max(1, sampleN[i]) : 1
                return 1 / max(s * s / Double(k) + 0.0001 * y[i] * y[i], 1e-30)
            }
        }
        // The robust fit has no weight argument: scale each row by sqrt(w) (relative system).
        let robustRows = kind == .robust
        let X = gsl_matrix_alloc(n, p)!, Y = gsl_vector_alloc(n)!, C = gsl_vector_alloc(p)!, cov = gsl_matrix_alloc(p, p)!
        defer { gsl_matrix_free(X); gsl_vector_free(Y); gsl_vector_free(C); gsl_matrix_free(cov) }
        for i in 0..<n {
            let r = robustRows ? weights[i].squareRoot() : 1
            for j in 0..<p { gsl_matrix_set(X, i, j, rows[i][j] / scale[j] * r) }
            gsl_vector_set(Y, i, y[i] * r)
        }
        _ = gslErrorsAsStatus
        var chisq = 0.0
        let status: Int32
        switch kind {
        case .ols:
            let work = gsl_multifit_linear_alloc(n, p)!
            defer { gsl_multifit_linear_free(work) }
            status = gsl_multifit_linear(X, Y, C, cov, &chisq, work)
        case .relative, .precision:
            let W = gsl_vector_alloc(n)!
            defer { gsl_vector_free(W) }
            for i in 0..<n { gsl_vector_set(W, i, weights[i]) }
            let work = gsl_multifit_linear_alloc(n, p)!
            defer { gsl_multifit_linear_free(work) }
            status = gsl_multifit_wlinear(X, W, Y, C, cov, &chisq, work)
        case .robust:
            // Bisquare needs more points than coefficients to tell an outlier from a fit.
            guard n > p else { throw CostModelError.fitFailed("robust fit needs more points than coefficients") }
            let work = gsl_multifit_robust_alloc(bisquare, n, p)!
            defer { gsl_multifit_robust_free(work) }
            status = gsl_multifit_robust(X, Y, C, cov, work)
        }
        // GSL_EMAXITER from the robust fit still leaves a usable estimate; anything else is a failure.
        guard status == GSL_SUCCESS || (kind == .robust && status == GSL_EMAXITER) else {
            throw CostModelError.fitFailed("GSL status \(status) (\(String(cString: gsl_strerror(status))))")
        }
        let c = (0..<p).map { gsl_vector_get(C, $0) / scale[$0] }
        guard c.allSatisfy(\.isFinite) else { throw CostModelError.fitFailed("non-finite coefficients") }
        return c
    }
}

/// GSL's default error handler aborts the process; switch it off once (process-wide, never
/// restored, so concurrent fits cannot race on it) and read status codes instead.
private let gslErrorsAsStatus: Void = { _ = gsl_set_error_handler_off() }()

/// GSL's bisquare weight function (a C global; GSL never writes it).
nonisolated(unsafe) private let bisquare = gsl_multifit_robust_bisquare
