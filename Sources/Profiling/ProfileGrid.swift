import AdaptiveInference
import Contention
import LLaVAModel

/// One shape the profiler measures an op at (thread count and background load come on top).
public struct ProfilePoint: Hashable, Codable, Sendable, CustomStringConvertible {
    public var op: OpName
    public var phase: Phase
    public var tokens: Int
    public var context: Int
    /// Active H units of the layer (LLM ops; 0 elsewhere), and the heads/neurons they hold.
    public var units: Int
    public var heads: Int
    public var kvHeads: Int
    public var neurons: Int

    public var description: String {
        var s = "\(op.rawValue) \(phase.rawValue) tokens \(tokens) context \(context)"
        if units > 0 { s += " heads \(heads) neurons \(neurons)" }
        return s
    }
}

/// The settings of one profile: what `--resume` compares (as JSON) to find the run to continue.
public struct ProfileSettings: Codable, Sendable, Equatable {
    public var threads: [Int]
    /// `--contention` levels in their canonical spelling (`0`, `1c`, `10gbps`, …).
    public var contention: [String]
    public var quick: Bool
    /// Stop repeating once the 95% CI half-width of the median is under this share of it.
    public var ciTarget: Double
    public var minRepeats: Int
    public var maxRepeats: Int
    /// Stop repeating a point after this many seconds (once `minRepeats` are in).
    public var pointCapSeconds: Double
    public var seed: UInt64

    public init(threads: [Int], contention: [ContentionLevel], quick: Bool, ciTarget: Double, minRepeats: Int,
                maxRepeats: Int, pointCapSeconds: Double, seed: UInt64) {
        self.threads = threads
        self.contention = contention.map(\.description)
        self.quick = quick; self.ciTarget = ciTarget; self.minRepeats = minRepeats; self.maxRepeats = maxRepeats
        self.pointCapSeconds = pointCapSeconds; self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case threads, contention, quick, ciTarget = "ci_target", minRepeats = "min_repeats"
        case maxRepeats = "max_repeats", pointCapSeconds = "point_cap_s", seed
    }

    public var levels: [ContentionLevel] { contention.compactMap { try? ContentionLevel.parse($0) } }
}

/// Where the profiler samples: sparse along each axis a cost model regresses on, not a full
/// grid. Time is linear in tokens for the linears and quadratic for prefill attention, linear
/// in KV length for decode attention, and linear in active units: a few points per axis pin
/// those shapes, with the ends of the range included so a fit never extrapolates inside the
/// engine's limits.
///
/// Budget (llava-1.5-7b, 2 threads, idle, ~180 GFLOP/s sgemm and ~28 GB/s here):
/// - prefill `llm.attn` + `llm.mlp`: 7 token counts (Σ 2784 tokens) × 4 unit fractions
///   (Σ 2.5 of the full block) ≈ 2784 × 4.05e8 FLOP × 2.5 ≈ 2.8e12 FLOP ≈ 16 s per sweep;
///   warm-up + 3 repeats ≈ 64 s, bounded by the per-point cap (56 points × 2.5 s = 140 s worst).
/// - decode `llm.attn`: 5 KV lengths × 4 fractions, `llm.mlp`: 4 fractions (context does not
///   enter the MLP), each 5–30 ms: ≤ 24 points × 15 repeats × 30 ms ≈ 11 s.
/// - vision.embed, vision.block (577 tokens ≈ 80 ms), projector at 3 token counts (≤ 130 ms),
///   llm.embed, lm_head (≈ 20 ms), token selection: ≈ 10 s.
/// - building each component once (synthetic weights, ≈ 2 GB for 7B in turn): ≈ 10 s.
/// So ≈ 1.5–3 minutes per thread count and contention level; `--threads 1,2` about triples it
/// (one thread halves the GEMM rate).
public enum ProfileGrid {
    public static let prefillTokens = [32, 64, 128, 256, 512, 768, 1024]
    public static let decodeContexts = [128, 512, 1024, 2048, 4096]
    static let quickTokens = [16, 64]
    static let quickContexts = [64, 256]

    /// Every point for `config`, in the order components are built (vision first, then the
    /// projector, the embedding table and `lm_head`, then the decoder block).
    public static func points(config: LlavaConfig, layout: KnobLayout, quick: Bool) -> [ProfilePoint] {
        let t = config.textConfig, v = config.visionConfig
        let limit = t.maxPositionEmbeddings
        let tokens = (quick ? quickTokens : prefillTokens).filter { $0 <= limit }
        let contexts = (quick ? quickContexts : decodeContexts).filter { $0 <= limit }
        let patches = v.numPatches, features = config.imageFeatureTokens
        func point(_ op: OpName, _ phase: Phase, _ tokens: Int, _ context: Int, units: Int = 0) -> ProfilePoint {
            let u = units == 0 ? nil : unitParts(layout: layout, units: units)
            return ProfilePoint(op: op, phase: phase, tokens: tokens, context: context, units: units,
                                heads: u?.heads.count ?? 0, kvHeads: u?.kvHeads.count ?? 0, neurons: u?.neurons.count ?? 0)
        }
        var out: [ProfilePoint] = []
        out.append(point(.visionEmbed, .prefill, patches + 1, patches + 1))
        out.append(point(.visionBlock, .prefill, patches + 1, patches + 1))
        // PruMerge keeps ≈ 5.5% of the patches, PruMerge+ ≈ 22%: the merge cost grows with both.
        for share in quick ? [0.25] : [0.055, 0.22] {
            out.append(point(.pruMergeSelect, .prefill, patches, max(1, Int((share * Double(patches)).rounded()))))
        }
        // The projector sees every image feature, or what PruMerge(+) left.
        let projectorTokens = quick ? [features] : Array(Set([32, 128, features].filter { $0 <= features })).sorted()
        for n in projectorTokens { out.append(point(.projector, .prefill, n, n)) }
        for n in tokens { out.append(point(.llmEmbed, .prefill, n, n)) }
        out.append(point(.llmEmbed, .decode, 1, 1))
        out.append(point(.lmHead, .prefill, 1, 1))   // the last position only
        out.append(point(.lmHead, .decode, 1, 1))
        // FastV gathers the kept rows of the sequence once, at its layer K.
        for n in tokens.suffix(quick ? 1 : 2) {
            let image = min(features, n / 2)
            out.append(point(.fastVSelect, .prefill, n, n - image / 2))
        }
        let fractions = unitGrid(layout: layout, quick: quick)
        for u in fractions {
            for n in tokens {
                out.append(point(.llmAttention, .prefill, n, n, units: u))
                out.append(point(.llmMLP, .prefill, n, n, units: u))
            }
            for c in contexts { out.append(point(.llmAttention, .decode, 1, c, units: u)) }
            out.append(point(.llmMLP, .decode, 1, 1, units: u))
        }
        return out
    }

    /// Active-unit counts sampled: all, ¾, ½, ¼ of the layer's H units (distinct, ≥ 1);
    /// `quick`: all and half.
    static func unitGrid(layout: KnobLayout, quick: Bool) -> [Int] {
        let n = layout.unitsPerLayer
        let shares = quick ? [1.0, 0.5] : [1.0, 0.75, 0.5, 0.25]
        var seen = Set<Int>()
        return shares.map { max(1, Int((Double(n) * $0).rounded())) }.filter { seen.insert($0).inserted }
    }

    /// The heads, KV heads and neurons of the first `units` H units: contiguous, so one
    /// strided GEMM per weight as a plan with adjacent units runs.
    public static func unitParts(layout: KnobLayout, units: Int) -> (heads: Range<Int>, kvHeads: Range<Int>, neurons: Range<Int>) {
        let last = units - 1
        return (0..<layout.unitHeadRange(last).upperBound, 0..<layout.unitKVHeadRange(last).upperBound,
                0..<layout.unitNeuronRange(last).upperBound)
    }
}
