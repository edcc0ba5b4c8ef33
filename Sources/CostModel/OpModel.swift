import Contention
import LLaVAModel
import Profiling

/// Identifies one fitted op: the same op at another phase or thread count is another fit.
public struct OpKey: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var op: OpName
    public var phase: Phase
    public var threads: Int

    public init(op: OpName, phase: Phase, threads: Int) { self.op = op; self.phase = phase; self.threads = threads }

    public var description: String { "\(op.rawValue) \(phase.rawValue) t\(threads)" }

    public static func < (a: OpKey, b: OpKey) -> Bool {
        let ia = OpName.allCases.firstIndex(of: a.op)!, ib = OpName.allCases.firstIndex(of: b.op)!
        if ia != ib { return ia < ib }
        if a.phase != b.phase { return a.phase == .prefill }
        return a.threads < b.threads
    }
}

/// How background load slows an op down, multiplicatively:
/// `time = idle time · (1 + γ_over·overload + γ_cpu·busy/cores + γ_bw·GB/s·memShare)`.
///
/// - `overload = max(0, threads + busy − cores) / threads`: the share of the op's threads that
///   must time-share a core (a GEMM waits for its slowest thread).
/// - `busy/cores`: shared caches, turbo and the OS, even when every thread has a core.
/// - `memShare = r·bytes / (flops + r·bytes)` with r the machine balance (FLOP per byte): the
///   part of the op's roofline time spent moving bytes, which is what background traffic steals.
public struct ContentionTerms: Codable, Sendable, Equatable {
    /// Cores of the profiled machine.
    public var cores: Int
    /// Machine balance r in FLOP/byte (peak GFLOP/s over stream GB/s, about 5 here).
    public var balance: Double

    public static let names = ["overload", "busy_share", "bw_gbps_x_mem_share"]

    public init(cores: Int, balance: Double = 5) { self.cores = max(1, cores); self.balance = balance }

    func row(_ level: ContentionLevel, threads: Int, flops: Double, bytes: Double) -> [Double] {
        let busy = max(0, level.cpuBusyCores), t = Double(max(1, threads)), c = Double(cores)
        let overload = max(0, t + busy - c) / t
        let mem = bytes > 0 ? balance * bytes / (max(0, flops) + balance * bytes) : 0
        return [overload, busy / c, max(0, level.memBandwidthGBps) * mem]
    }
}

/// The fitted model of one op at one phase and thread count: idle-time coefficients over its
/// work features, then a multiplicative contention slowdown.
public struct OpModel: Codable, Sendable, Equatable {
    public var key: OpKey
    public var fit: FitKind
    /// Feature names, matching `coefficients` (see `OpFeatures`).
    public var features: [String]
    /// Idle milliseconds per unit of each feature.
    public var coefficients: [Double]
    /// γ per `ContentionTerms.names`; zeros when the profile had no contended points for it.
    public var slowdown: [Double]
    public var idlePoints: Int
    public var contendedPoints: Int
    /// Profiled shape ranges: predictions outside them extrapolate.
    public var tokens: ClosedRange<Int>
    public var context: ClosedRange<Int>
    /// Upper quantile (P95) of held-out `measured/predicted − 1` at idle and under contention:
    /// the safety margin the planner adds. Nil until cross-validation has run.
    public var marginIdle: Double?
    public var marginContended: Double?

    enum CodingKeys: String, CodingKey {
        case key, fit, features, coefficients, slowdown
        case idlePoints = "idle_points", contendedPoints = "contended_points", tokens, context
        case marginIdle = "margin_idle", marginContended = "margin_contended"
    }

    /// Predicted milliseconds for `count` runs whose summed shape features are `row`.
    func predict(_ row: FeatureRow, level: ContentionLevel, terms: ContentionTerms) -> Double {
        var idle = 0.0
        for (j, c) in coefficients.enumerated() where j < row.x.count { idle += c * row.x[j] }
        let z = terms.row(level, threads: key.threads, flops: row.flops, bytes: row.bytes)
        var factor = 1.0
        for (j, g) in slowdown.enumerated() where j < z.count { factor += g * z[j] }
        // A linear fit can go negative far outside its range; time cannot.
        return max(idle, 1e-6) * max(factor, 0.5)
    }

    /// Fits `samples` (all of one key) with `kind`: idle coefficients on the idle points,
    /// then the slowdown on the contended points' ratio to the idle prediction.
    static func fit(_ key: OpKey, _ samples: [ProfileSample], kind: FitKind, dims: ModelDims,
                    terms: ContentionTerms) throws -> OpModel {
        let idle = samples.filter { level($0).isIdle }, contended = samples.filter { !level($0).isIdle }
        guard !idle.isEmpty else {
            throw CostModelError.tooFewPoints(op: key.op, phase: key.phase, threads: key.threads, points: 0, needed: 1)
        }
        let names = OpFeatures.names(key.op, key.phase)
        let rows = idle.map { OpFeatures.row(key.op, key.phase, shape($0), dims).x }
        // Keep the intercept and the columns that vary; drop the least important ones when
        // there are fewer points than columns.
        var keep = [0] + (1..<names.count).filter { j in Set(rows.map { $0[j] }).count > 1 }
        if keep.count > idle.count { keep = Array(keep.prefix(idle.count)) }
        let system = LinearSystem(rows: rows.map { r in keep.map { r[$0] } }, y: idle.map(\.stats.medianMs))
        let solved = try system.solve(kind, sampleStd: idle.map(\.stats.stdMs), sampleN: idle.map(\.stats.n))
        var coefficients = [Double](repeating: 0, count: names.count)
        for (i, j) in keep.enumerated() { coefficients[j] = solved[i] }
        var model = OpModel(key: key, fit: kind, features: names, coefficients: coefficients,
                            slowdown: [0, 0, 0], idlePoints: idle.count, contendedPoints: contended.count,
                            tokens: range(samples.map(\.tokens)), context: range(samples.map(\.context)))
        if !contended.isEmpty { model.slowdown = try fitSlowdown(model, contended, dims: dims, terms: terms) }
        return model
    }

    /// γ from `measured / idle prediction − 1 ≈ z·γ` (unweighted: the ratio is already
    /// relative; bisquare when the op's kind is robust), over the terms present in the data.
    private static func fitSlowdown(_ m: OpModel, _ points: [ProfileSample], dims: ModelDims,
                                    terms: ContentionTerms) throws -> [Double] {
        var z: [[Double]] = [], s: [Double] = []
        for p in points {
            let row = OpFeatures.row(m.key.op, m.key.phase, shape(p), dims)
            let idle = m.predict(row, level: .idle, terms: terms)
            z.append(terms.row(level(p), threads: m.key.threads, flops: row.flops, bytes: row.bytes))
            s.append(p.stats.medianMs / idle - 1)
        }
        let used = (0..<ContentionTerms.names.count).filter { j in z.contains { $0[j] != 0 } }
        guard !used.isEmpty else { return [0, 0, 0] }
        // Rank deficiency (e.g. only one busy-core level, so overload ∝ busy share) is left to
        // GSL's SVD, which returns the minimum-norm solution; predictions inside the profiled
        // levels are the same either way.
        let keep = Array(used.prefix(points.count))
        // The robust kind stays robust here: a hiccup under contention must not move γ.
        let system = LinearSystem(rows: z.map { r in keep.map { r[$0] } }, y: s)
        let g = m.fit == .robust && points.count > keep.count
            ? try system.solve(.robust, unweighted: true) : try system.solve(.ols)
        var out = [0.0, 0, 0]
        for (i, j) in keep.enumerated() { out[j] = g[i] }
        return out
    }

    /// The background load a sample ran under: the achieved level when the generator measured
    /// one, else the level asked for.
    static func level(_ s: ProfileSample) -> ContentionLevel {
        let a = s.achievedContention, asked = s.contention
        return ContentionLevel(cpuBusyCores: asked.cpuBusyCores == 0 ? 0 : (a.cpuBusyCores > 0 ? a.cpuBusyCores : asked.cpuBusyCores),
                               memBandwidthGBps: asked.memBandwidthGBps == 0 ? 0 : (a.memBandwidthGBps > 0 ? a.memBandwidthGBps : asked.memBandwidthGBps))
    }

    static func shape(_ s: ProfileSample) -> OpShape {
        OpShape(tokens: Double(s.tokens), context: Double(s.context), heads: Double(s.heads), neurons: Double(s.neurons))
    }

    private static func range(_ v: [Int]) -> ClosedRange<Int> { (v.min() ?? 0)...(v.max() ?? 0) }
}
