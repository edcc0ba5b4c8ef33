import Foundation
import LLaVAModel
import TensorKernels

/// One per-block measurement: the schema behind `bench block`'s table, CSV and JSON.
public struct BlockBenchmarkRow: Codable, Sendable {
    /// `OpName` of the block (`llm.block`, `vision.block`).
    public var op: String
    public var phase: String
    /// Preset whose shapes were used.
    public var shape: String
    /// How the block's projection weights were stored (`f32`, `bf16`, `q8_0`); the vision
    /// block is always fp32.
    public var dtype: String
    /// New tokens in the step (prompt length for prefill, 1 for decode).
    public var tokens: Int
    /// Positions attended over (prompt length for prefill, KV length for decode).
    public var context: Int
    public var threads: Int
    public var repeats: Int
    public var medianMs: Double
    public var minMs: Double
    public var maxMs: Double
    public var gflops: Double
    /// Weights (in their stored format) + KV cache read per step, over the median time.
    public var gbps: Double
    /// `gflops` over `sgemmGflops`.
    public var gflopsRatio: Double
    /// `gbps` over `readGbps`.
    public var bandwidthRatio: Double
    /// The yardsticks this row is rated against, measured just before and just after it
    /// (`Yardsticks`): `cblas_sgemm` 2048³ GFLOP/s and stream read GB/s, same threads.
    public var sgemmGflops: Double
    public var readGbps: Double

    enum CodingKeys: String, CodingKey {
        case op, phase, shape, dtype, tokens, context, threads, repeats
        case medianMs = "median_ms", minMs = "min_ms", maxMs = "max_ms", gflops, gbps
        case gflopsRatio = "gflops_ratio", bandwidthRatio = "bandwidth_ratio"
        case sgemmGflops = "sgemm_gflops", readGbps = "read_gbps"
    }

    public static let columns = ["op", "phase", "shape", "dtype", "tokens", "context", "threads", "median_ms", "min_ms", "max_ms",
                                 "gflops", "gflops_ratio", "gbps", "bandwidth_ratio", "sgemm_gflops", "read_gbps"]

    public var fields: [String] {
        [op, phase, shape, dtype, "\(tokens)", "\(context)", "\(threads)", fmt(medianMs, 2), fmt(minMs, 2), fmt(maxMs, 2),
         fmt(gflops, 1), fmt(gflopsRatio, 3), fmt(gbps, 1), fmt(bandwidthRatio, 3), fmt(sgemmGflops, 1), fmt(readGbps, 1)]
    }

    /// This row with its ratios taken against `yardsticks`.
    public func rated(against yardsticks: Yardsticks) -> BlockBenchmarkRow {
        var r = self
        r.sgemmGflops = yardsticks.gflops
        r.readGbps = yardsticks.gbps
        r.gflopsRatio = yardsticks.gflops > 0 ? gflops / yardsticks.gflops : 0
        r.bandwidthRatio = yardsticks.gbps > 0 ? gbps / yardsticks.gbps : 0
        return r
    }
}

/// This machine's two yardsticks at one thread count: `cblas_sgemm` 2048³ GFLOP/s (the
/// prefill's) and stream read GB/s (the decode's), as medians.
public struct Yardsticks: Sendable {
    public var gflops: Double
    public var gbps: Double

    /// Both yardsticks' samples at `threads` (`samples` each, after a warm-up).
    public static func sample(threads: Int, streamMegabytes: Int, samples: Int = 3) -> (sgemm: [Double], read: [Double]) {
        (SgemmPeak.measure(threads: threads, repeats: samples).samples,
         StreamBandwidth.measure(megabytes: streamMegabytes, threads: threads, repeats: samples).samples)
    }

    /// The medians of two `sample`s taken just before and just after a row, together.
    ///
    /// Why beside each row and not once per run: this VM's speed moves by ±15-40% within
    /// minutes (a 7B bf16 decode step took 14.5 ms in one run and 26.7 ms a minute later, and
    /// q8_0 on 2 threads was barely faster than on 1), so a yardstick taken at the start of a
    /// run rated later rows against a different machine; measured on both sides of a row it
    /// sees what the row saw. Consecutive rows share the sample between them.
    public init(before: (sgemm: [Double], read: [Double]), after: (sgemm: [Double], read: [Double])) {
        gflops = Summary(before.sgemm + after.sgemm).median
        gbps = Summary(before.read + after.read).median
    }
}

/// Times single blocks at a preset's real shapes, one block in memory at a time (so 7B and
/// 13B shapes work on a 24 GiB machine).
public struct BlockBenchmark {
    public let preset: Preset
    public let decoder: DecoderLayer
    public let vision: VisionEncoderLayer
    public let config: LlavaConfig
    /// How the decoder block's projections are stored (synthetic values rounded to it).
    public let dtype: WeightDType

    public init(preset: Preset, seed: UInt64 = 0, dtype: WeightDType = .f32) throws {
        self.preset = preset
        self.dtype = dtype
        config = preset.config
        let weights = SyntheticWeights(seed: seed)
        decoder = try DecoderLayer.load(from: weights, config: config.textConfig, index: 0, dtype: dtype)
        vision = try VisionEncoderLayer.load(from: weights, config: config.visionConfig, index: 0)
    }

    /// `llm.block` prefill of `tokens` tokens.
    /// (Ratios are 0 until the row is `rated(against:)` its yardsticks.)
    public func prefill(tokens: Int, threads: Int, repeats: Int) -> BlockBenchmarkRow {
        BLAS.setThreads(threads)
        let t = config.textConfig
        let x = input(rows: tokens, width: t.hiddenSize)
        let rope = RotaryEmbedding(headDim: t.headDim, theta: t.ropeTheta)
        let times = sample(repeats) {
            var cache = KVCache(kvHeads: t.numKeyValueHeads, headDim: t.headDim, capacity: tokens)
            _ = decoder(x, positions: Array(0..<tokens), cache: &cache, rope: rope)
        }
        let bytes = Double(decoder.weightBytes + 2 * tokens * t.kvWidth * 4)
        return row(op: .llmBlock, phase: .prefill, tokens: tokens, context: tokens, threads: threads, repeats: repeats,
                   times: times, flops: t.blockFLOPs(tokens: tokens, context: tokens), bytes: bytes)
    }

    /// `llm.block` decode of one token over a KV cache already holding `context − 1` positions.
    public func decode(context: Int, threads: Int, repeats: Int) -> BlockBenchmarkRow {
        BLAS.setThreads(threads)
        let t = config.textConfig
        var cache = KVCache(kvHeads: t.numKeyValueHeads, headDim: t.headDim, capacity: context)
        if context > 1 {
            let past = input(rows: context - 1, width: t.kvWidth)
            cache.append(keys: past, values: past)
        }
        let x = input(rows: 1, width: t.hiddenSize)
        let rope = RotaryEmbedding(headDim: t.headDim, theta: t.ropeTheta)
        // After a multithreaded OpenBLAS call (the prefill or yardstick just measured) its
        // worker threads spin on sched_yield for 2^28 cycles (≈ 0.1 s) before sleeping. A
        // steady decode step of bf16/q8_0 weights makes no such call, so let them settle
        // rather than time the first steps against them (fp32 decode wakes them itself).
        Thread.sleep(forTimeInterval: 0.3)
        let times = sample(repeats) {
            cache.truncate(to: context - 1)   // every step sees the same past
            _ = decoder(x, positions: [context - 1], cache: &cache, rope: rope)
        }
        let bytes = Double(decoder.weightBytes + 2 * context * t.kvWidth * 4)
        return row(op: .llmBlock, phase: .decode, tokens: 1, context: context, threads: threads, repeats: repeats,
                   times: times, flops: t.blockFLOPs(tokens: 1, context: context), bytes: bytes)
    }

    /// `vision.block` over the image's `patches + 1` tokens.
    public func visionBlock(threads: Int, repeats: Int) -> BlockBenchmarkRow {
        BLAS.setThreads(threads)
        let v = config.visionConfig, n = v.numPatches + 1
        let x = input(rows: n, width: v.hiddenSize)
        let times = sample(repeats) { _ = vision(x) }
        let h = Double(v.hiddenSize), m = Double(v.intermediateSize), t = Double(n)
        let flops = 2 * t * h * h * 4 + 2 * t * h * m * 2 + 2 * 2 * t * t * h
        return row(op: .visionBlock, phase: .prefill, tokens: n, context: n, threads: threads, repeats: repeats,
                   times: times, flops: flops, bytes: Double(config.visionLayerParameters * 4), dtype: .f32)
    }

    private func input(rows: Int, width: Int) -> Tensor {
        Tensor(shape: [rows, width], storage: (0..<(rows * width)).map { Float(($0 &* 2_654_435_761) % 2001) / 1000 - 1 })
    }

    /// One warm-up, then `repeats` timed runs (ms).
    private func sample(_ repeats: Int, _ body: () -> Void) -> Summary {
        body()
        return Summary((0..<repeats).map { _ in secondsTaken(body) * 1000 })
    }

    private func row(op: OpName, phase: Phase, tokens: Int, context: Int, threads: Int, repeats: Int, times: Summary,
                     flops: Double, bytes: Double, dtype: WeightDType? = nil) -> BlockBenchmarkRow {
        let seconds = times.median / 1000
        let gflops = flops / seconds / 1e9, gbps = bytes / seconds / 1e9
        return BlockBenchmarkRow(op: op.rawValue, phase: phase.rawValue, shape: preset.rawValue, dtype: (dtype ?? self.dtype).rawValue,
                                 tokens: tokens, context: context,
                                 threads: threads, repeats: repeats, medianMs: times.median, minMs: times.min, maxMs: times.max,
                                 gflops: gflops, gbps: gbps, gflopsRatio: 0, bandwidthRatio: 0, sgemmGflops: 0, readGbps: 0)
    }
}
