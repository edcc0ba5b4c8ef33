import Contention
import Foundation
import LLaVAModel
import Profiling

/// Options of a fit: cross-validation folds and seed, and the machine the profile came from.
public struct FitOptions: Sendable {
    public var folds: Int
    public var seed: UInt64
    /// Cores of the profiled machine (the contention term's reference).
    public var cores: Int
    /// Machine balance in FLOP/byte (peak GEMM GFLOP/s over stream GB/s).
    public var balance: Double
    /// Fit kinds to try per op; the one with the best k-fold error is kept.
    public var kinds: [FitKind]

    public init(folds: Int = 5, seed: UInt64 = 1, cores: Int = ProcessInfo.processInfo.activeProcessorCount,
                balance: Double = 5, kinds: [FitKind] = FitKind.allCases) {
        self.folds = folds; self.seed = seed; self.cores = cores; self.balance = balance; self.kinds = kinds
    }
}

/// The fitted per-op cost model of one model's shapes on one device: small, explainable
/// (a handful of coefficients per op, each in ms per GFLOP / MB / element) and stored as JSON
/// beside the profile rows it came from.
public struct CostModel: Codable, Sendable, Equatable {
    public static let formatVersion = 1
    public var version: Int
    /// Model the profile measured (preset name).
    public var model: String
    public var dims: ModelDims
    public var contention: ContentionTerms
    public var ops: [OpModel]
    /// Whole-profile P95 of held-out `measured/predicted − 1` (idle, contended): the fallback
    /// margin when an op has none of its own.
    public var marginIdle: Double
    public var marginContended: Double
    /// Profile runs whose samples trained the model.
    public var trainingRuns: [Int64]
    /// The end-to-end correction fitted on whole requests the profile timed (nil: none were).
    public var requestCalibration: RequestCalibration? = nil

    enum CodingKeys: String, CodingKey {
        case version, model, dims, contention, ops, marginIdle = "margin_idle"
        case marginContended = "margin_contended", trainingRuns = "training_runs"
        case requestCalibration = "request_calibration"
    }

    /// The fitted op for `key`, or a `CostModelError.notProfiled` naming what exists.
    public func op(_ key: OpKey) throws -> OpModel {
        if let m = ops.first(where: { $0.key == key }) { return m }
        throw CostModelError.notProfiled(op: key.op, phase: key.phase, threads: key.threads,
                                         available: ops.map { $0.key.description })
    }

    public func has(_ key: OpKey) -> Bool { ops.contains { $0.key == key } }

    /// Predicted milliseconds of `count` runs of `key` whose mean shape is `shape`.
    public func predictOp(_ key: OpKey, shape: OpShape, count: Int = 1, contention level: ContentionLevel) throws -> Double {
        let m = try op(key)
        var row = OpFeatures.row(key.op, key.phase, shape, dims)
        let n = Double(count)
        row.x = row.x.map { $0 * n }; row.flops *= n; row.bytes *= n
        return m.predict(row, level: level, terms: contention)
    }

    /// Decodes a stored model.
    public static func decode(json: String) throws -> CostModel {
        do {
            let m = try JSONDecoder().decode(CostModel.self, from: Data(json.utf8))
            guard m.version <= formatVersion else {
                throw CostModelError.badModelJSON("format version \(m.version) is newer than this build's \(formatVersion)")
            }
            return m
        } catch let e as CostModelError { throw e } catch { throw CostModelError.badModelJSON("\(error)") }
    }

    public func encodedJSON() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }
}

/// What a fit reports: per op its fit kind and held-out error, and the same overall.
public struct FitReport: Codable, Sendable, Equatable {
    public struct OpRow: Codable, Sendable, Equatable {
        public var op: OpName
        public var phase: Phase
        public var threads: Int
        public var fit: FitKind
        public var idlePoints: Int
        public var contendedPoints: Int
        public var kfold: SplitMetrics
        public var extrapolation: SplitMetrics
        /// k-fold share within ±10% of every fit kind tried, to show why `fit` won.
        public var candidates: [String: Double]
        /// Median over the points of the measurement's own std/median: the noise floor. When
        /// the repeats of one point scatter by 10%, no model predicts them within ±10%.
        public var measurementCV: Double
        enum CodingKeys: String, CodingKey {
            case op, phase, threads, fit, idlePoints = "idle_points", contendedPoints = "contended_points"
            case kfold, extrapolation, candidates, measurementCV = "measurement_cv"
        }
    }
    public struct Skipped: Codable, Sendable, Equatable {
        public var op: OpName, phase: Phase, threads: Int, reason: String
    }

    public var model: String
    public var folds: Int
    public var ops: [OpRow]
    public var skipped: [Skipped]
    public var kfold: SplitMetrics
    public var extrapolation: SplitMetrics
    /// ≥ 99% within ±10% idle and ≥ 95% contended (k-fold), where there are such points;
    /// false when nothing could be held out.
    public var meetsTargets: Bool
    public var relativeMarginIdle: Double
    public var relativeMarginContended: Double

    enum CodingKeys: String, CodingKey {
        case model, folds, ops, skipped, kfold, extrapolation, meetsTargets = "meets_targets"
        case relativeMarginIdle = "relative_margin_idle", relativeMarginContended = "relative_margin_contended"
    }
}

extension CostModel {
    /// Fits every (op, phase, threads) present in `samples` of `model`, chooses each op's fit
    /// kind by k-fold error, and reports k-fold and extrapolation error. Ops that cannot be fitted
    /// (no idle point) are listed in the report's `skipped`; nothing fittable at all throws.
    public static func fit(samples all: [ProfileSample], model: String, config: LlavaConfig,
                           trainingRuns: [Int64] = [], options: FitOptions = FitOptions()) throws -> (CostModel, FitReport) {
        let samples = all.filter { $0.model == model && $0.stats.medianMs.isFinite && $0.stats.medianMs > 0 }
        guard !samples.isEmpty else {
            throw CostModelError.noSamples("no usable samples of model '\(model)' (\(all.count) rows given)")
        }
        let dims = ModelDims(config), terms = ContentionTerms(cores: options.cores, balance: options.balance)
        let groups = Dictionary(grouping: samples) { OpKey(op: $0.op, phase: $0.phase, threads: $0.threads) }
        var ops: [OpModel] = [], rows: [FitReport.OpRow] = [], skipped: [FitReport.Skipped] = []
        var allK: [Residual] = [], allX: [Residual] = []
        for key in groups.keys.sorted() {
            let points = groups[key]!
            var best: (kind: FitKind, res: [Residual], score: (Double, Double))?
            var candidates: [String: Double] = [:]
            for kind in options.kinds {
                let res = CrossValidation.kFold(key, points, kind: kind, k: options.folds, seed: options.seed, dims: dims, terms: terms)
                guard let m = ErrorMetrics(relativeErrors: res.map(\.error)) else { continue }
                candidates[kind.rawValue] = m.within10
                let score = (m.within10, -m.mape)
                if best == nil || score > best!.score { best = (kind, res, score) }
            }
            let kind = best?.kind ?? .relative
            var fitted: OpModel
            do {
                fitted = try OpModel.fit(key, points, kind: kind, dims: dims, terms: terms)
            } catch {
                skipped.append(.init(op: key.op, phase: key.phase, threads: key.threads, reason: "\(error)"))
                continue
            }
            let res = best?.res ?? []
            fitted.marginIdle = margin(res.filter { !$0.contended })
            fitted.marginContended = margin(res.filter(\.contended))
            let extra = CrossValidation.extrapolation(key, points, kind: kind, dims: dims, terms: terms)
            allK += res; allX += extra
            ops.append(fitted)
            rows.append(.init(op: key.op, phase: key.phase, threads: key.threads, fit: kind,
                              idlePoints: fitted.idlePoints, contendedPoints: fitted.contendedPoints,
                              kfold: SplitMetrics(res), extrapolation: SplitMetrics(extra), candidates: candidates,
                              measurementCV: medianCV(points)))
        }
        guard !ops.isEmpty else {
            throw CostModelError.noSamples("no op of '\(model)' has an idle point to fit: " + skipped.map(\.reason).joined(separator: "; "))
        }
        let kfold = SplitMetrics(allK)
        let mIdle = margin(allK.filter { !$0.contended }) ?? 0, mCont = margin(allK.filter(\.contended)) ?? mIdle
        // Nothing held out (every op profiled at one point) proves nothing: not met.
        let meets = kfold.all != nil && (kfold.idle.map { $0.within10 >= 0.99 } ?? true)
            && (kfold.contended.map { $0.within10 >= 0.95 } ?? true)
        let cm = CostModel(version: formatVersion, model: model, dims: dims, contention: terms, ops: ops,
                           marginIdle: mIdle, marginContended: mCont, trainingRuns: trainingRuns)
        let report = FitReport(model: model, folds: options.folds, ops: rows, skipped: skipped, kfold: kfold,
                               extrapolation: SplitMetrics(allX), meetsTargets: meets,
                               relativeMarginIdle: mIdle, relativeMarginContended: mCont)
        return (cm, report)
    }

    /// Median of std/median over `points`.
    static func medianCV(_ points: [ProfileSample]) -> Double {
        let cv = points.map { $0.stats.stdMs / $0.stats.medianMs }.filter(\.isFinite).sorted()
        return cv.isEmpty ? 0 : quantile(sorted: cv, 0.5)
    }

    /// P95 of the held-out shortfall, never negative (a model that over-predicts needs no margin).
    static func margin(_ res: [Residual]) -> Double? {
        guard !res.isEmpty else { return nil }
        return max(0, quantile(sorted: res.map(\.shortfall).sorted(), 0.95))
    }
}
