import Contention
import LLaVAModel

/// Robust summary of repeated timings of one op at one shape, in milliseconds.
public struct SampleStats: Codable, Sendable, Hashable {
    public var minMs: Double
    public var medianMs: Double
    public var meanMs: Double
    public var stdMs: Double
    public var p90Ms: Double
    public var p99Ms: Double
    /// Timed repeats (after warm-up).
    public var n: Int

    public init(minMs: Double, medianMs: Double, meanMs: Double, stdMs: Double, p90Ms: Double, p99Ms: Double, n: Int) {
        self.minMs = minMs; self.medianMs = medianMs; self.meanMs = meanMs
        self.stdMs = stdMs; self.p90Ms = p90Ms; self.p99Ms = p99Ms; self.n = n
    }

    enum CodingKeys: String, CodingKey {
        case minMs = "min_ms", medianMs = "median_ms", meanMs = "mean_ms", stdMs = "std_ms"
        case p90Ms = "p90_ms", p99Ms = "p99_ms", n
    }
}

/// One profiled point: an op of the shared `OpName` vocabulary at one shape, thread count and
/// background load, with its timing statistics and the work it did. The row type of the
/// profiler, the store's `samples` table, the exports and the cost model's training data.
public struct ProfileSample: Codable, Sendable, Hashable {
    /// Model the shapes came from (preset name or checkpoint directory name).
    public var model: String
    public var op: OpName
    public var phase: Phase
    /// New tokens processed: prompt tokens (prefill, or patches+CLS for vision), 1 for decode.
    public var tokens: Int
    /// Keys the last new token attends over (prefill: = tokens; decode: KV length incl. itself).
    public var context: Int
    /// Active attention heads (all heads unless an H plan slices them).
    public var heads: Int
    /// Active MLP neurons (all unless an H plan slices them).
    public var neurons: Int
    /// BLAS / engine threads.
    public var threads: Int
    /// Background load asked for while measuring.
    public var contention: ContentionLevel
    /// Background load the generator measured it achieved (cores, GB/s).
    public var achievedContention: ContentionLevel
    /// Floating-point operations the op executed (2 per multiply-add).
    public var flops: Double
    /// Bytes the op must move at least once (weights + activations + KV read).
    public var bytes: Double
    public var stats: SampleStats

    public init(model: String, op: OpName, phase: Phase, tokens: Int, context: Int, heads: Int, neurons: Int,
                threads: Int, contention: ContentionLevel, achievedContention: ContentionLevel,
                flops: Double, bytes: Double, stats: SampleStats) {
        self.model = model; self.op = op; self.phase = phase; self.tokens = tokens; self.context = context
        self.heads = heads; self.neurons = neurons; self.threads = threads; self.contention = contention
        self.achievedContention = achievedContention; self.flops = flops; self.bytes = bytes; self.stats = stats
    }

    enum CodingKeys: String, CodingKey {
        case model, op, phase, tokens, context, heads, neurons, threads, contention
        case achievedContention = "achieved_contention", flops, bytes, stats
    }
}
