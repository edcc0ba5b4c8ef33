import Profiling
import TensorKernels

/// Held-out evaluation of one op's fit: k-fold over all its points, and an extrapolation split
/// that trains on the smaller shapes and tests on the largest.
enum CrossValidation {
    /// Held-out residuals of `kind` by k-fold (deterministic shuffle from `seed`). Folds whose
    /// training part cannot be fitted (no idle point) are skipped.
    static func kFold(_ key: OpKey, _ samples: [ProfileSample], kind: FitKind, k: Int, seed: UInt64,
                      dims: ModelDims, terms: ContentionTerms) -> [Residual] {
        guard samples.count >= 2 else { return [] }
        var rng = SplitMix64(seed: seed ^ UInt64(truncatingIfNeeded: key.hashValueStable))
        let order = Array(samples.indices).shuffled(using: &rng)
        let folds = min(k, samples.count)
        var out: [Residual] = []
        for f in 0..<folds {
            let test = order.enumerated().filter { $0.offset % folds == f }.map(\.element)
            let testSet = Set(test)
            let train = samples.indices.filter { !testSet.contains($0) }.map { samples[$0] }
            out += residuals(key, train: train, test: test.map { samples[$0] }, kind: kind, dims: dims, terms: terms)
        }
        return out
    }

    /// Trains on shapes below the top fifth of the op's size axis (prefill: tokens; decode:
    /// context) and tests on the rest. Empty when the op was profiled at one size only.
    static func extrapolation(_ key: OpKey, _ samples: [ProfileSample], kind: FitKind,
                              dims: ModelDims, terms: ContentionTerms) -> [Residual] {
        let size: (ProfileSample) -> Int = key.phase == .decode ? { $0.context } : { $0.tokens }
        let sizes = Array(Set(samples.map(size))).sorted()
        guard sizes.count >= 3 else { return [] }
        let cut = sizes[sizes.count - max(1, sizes.count / 5)]
        let train = samples.filter { size($0) < cut }, test = samples.filter { size($0) >= cut }
        return residuals(key, train: train, test: test, kind: kind, dims: dims, terms: terms)
    }

    private static func residuals(_ key: OpKey, train: [ProfileSample], test: [ProfileSample], kind: FitKind,
                                  dims: ModelDims, terms: ContentionTerms) -> [Residual] {
        guard let model = try? OpModel.fit(key, train, kind: kind, dims: dims, terms: terms) else { return [] }
        return test.map { s in
            let p = model.predict(OpFeatures.row(key.op, key.phase, OpModel.shape(s), dims), level: OpModel.level(s), terms: terms)
            return Residual(error: p / s.stats.medianMs - 1, contended: !OpModel.level(s).isIdle)
        }
    }
}

extension OpKey {
    /// A hash that does not change between runs (Swift's `hashValue` is seeded per process),
    /// so fold assignment is reproducible.
    var hashValueStable: Int {
        var h = 5381
        for b in "\(op.rawValue)|\(phase.rawValue)|\(threads)".utf8 { h = (h &* 33) &+ Int(b) }
        return h
    }
}
