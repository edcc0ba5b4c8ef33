import LLaVAModel
import TensorKernels

/// One benchmark result: the single schema behind the table, CSV and JSON printers.
public struct BenchmarkRow: Codable, Sendable {
    /// Preset or checkpoint the figures came from.
    public var model: String
    /// What was timed: `prefill` (every `llm.block` over the prompt plus `lm_head` of the last
    /// position) or `sgemm` (the BLAS yardstick).
    public var what: String
    public var tokens: Int
    public var threads: Int
    public var repeats: Int
    public var medianMs: Double
    public var minMs: Double
    public var maxMs: Double
    /// Executed FLOPs per second at the median time.
    public var gflops: Double
    /// `cblas_sgemm` 2048³ GFLOP/s measured in the same run with the same threads.
    public var sgemmGflops: Double
    /// `gflops / sgemmGflops`.
    public var ratioToSgemm: Double

    enum CodingKeys: String, CodingKey {
        case model, what, tokens, threads, repeats
        case medianMs = "median_ms", minMs = "min_ms", maxMs = "max_ms"
        case gflops, sgemmGflops = "sgemm_gflops", ratioToSgemm = "ratio_to_sgemm"
    }

    public static let columns = ["model", "what", "tokens", "threads", "repeats", "median_ms", "min_ms",
                                 "max_ms", "gflops", "sgemm_gflops", "ratio_to_sgemm"]

    /// The yardstick row: `cblas_sgemm` `n³` GFLOP/s as measured.
    public static func sgemm(_ peak: Summary, n: Int = 2048, threads: Int) -> BenchmarkRow {
        let flops = 2 * Double(n) * Double(n) * Double(n)
        return BenchmarkRow(model: "-", what: "sgemm", tokens: n, threads: threads, repeats: peak.samples.count,
                            medianMs: flops / peak.median / 1e6, minMs: flops / peak.max / 1e6,
                            maxMs: flops / peak.min / 1e6, gflops: peak.median, sgemmGflops: peak.median,
                            ratioToSgemm: 1)
    }

    /// The same measurement with its ratio taken against another yardstick.
    public func comparedWith(_ peak: Summary) -> BenchmarkRow {
        var row = self
        row.sgemmGflops = peak.median
        row.ratioToSgemm = gflops / peak.median
        return row
    }

    /// Values in `columns` order, formatted for CSV and the table.
    public var fields: [String] {
        [model, what, "\(tokens)", "\(threads)", "\(repeats)", fmt(medianMs, 1), fmt(minMs, 1), fmt(maxMs, 1),
         fmt(gflops, 1), fmt(sgemmGflops, 1), fmt(ratioToSgemm, 3)]
    }
}

public func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

/// Times the language model's prefill of a text-only prompt of `tokens` ids: the decoder
/// blocks over the whole prompt plus `lm_head` of the last position, exactly as `generate`
/// runs it.
public struct PrefillBenchmark {
    public let model: LlavaModel
    public let label: String

    public init(model: LlavaModel, label: String) {
        self.model = model
        self.label = label
    }

    /// Measures `repeats` prefills (after one warm-up) with `threads` BLAS threads;
    /// `progress` receives one line per sample. The row's ratio is taken against `sgemm`.
    public func run(tokens: Int, threads: Int, repeats: Int, sgemm: Summary,
                    progress: (String) -> Void) -> BenchmarkRow {
        BLAS.setThreads(threads)
        let lm = model.language
        let vocab = lm.config.vocabSize
        // Deterministic ids that avoid the image token.
        let ids = (0..<tokens).map { ($0 * 7919 + 1) % min(vocab, model.config.imageTokenIndex) }
        var times: [Double] = []
        for i in 0...repeats {
            var caches = lm.makeCaches(capacity: tokens)
            let s = secondsTaken {
                let normed = lm.forward(lm.embed(ids), positions: Array(0..<tokens), caches: &caches)
                _ = lm.logits(normed, row: tokens - 1)
            }
            if i == 0 {
                progress("warm-up prefill, \(tokens) tokens, \(threads) thread(s): \(fmt(s * 1000, 1)) ms")
            } else {
                times.append(s * 1000)
                progress("prefill \(i)/\(repeats), \(tokens) tokens, \(threads) thread(s): \(fmt(s * 1000, 1)) ms")
            }
        }
        let t = Summary(times)
        let gflops = lm.config.prefillFLOPs(tokens: tokens) / (t.median / 1000) / 1e9
        return BenchmarkRow(model: label, what: "prefill", tokens: tokens, threads: threads, repeats: repeats,
                            medianMs: t.median, minMs: t.min, maxMs: t.max, gflops: gflops,
                            sgemmGflops: sgemm.median, ratioToSgemm: gflops / sgemm.median)
    }
}
