import ArgumentParser
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// `adallava bench block`: one block at a time at a preset's real shapes, against this
/// machine's sgemm peak and read bandwidth measured in the same run.
struct BenchBlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Time single LLM and vision blocks at real shapes (prefill and decode) against measured peaks.",
        discussion: """
        Only one block is in memory, so llava-1.5-7b and -13b shapes work here. For each \
        thread count: llm.block prefill at each --tokens, llm.block decode (one token) at each \
        --contexts KV length, and one vision.block. Each row is measured between two \
        measurements of this machine's yardsticks at the same threads (cblas_sgemm 2048³ \
        GFLOP/s and stream read GB/s, 3 samples before and 3 after, shared by consecutive rows; \
        columns sgemm_gflops and read_gbps), because a shared machine's speed moves within minutes. Ratios (fields ending \
        in _ratio) are achieved GFLOP/s over that sgemm figure and bytes read per step (weights \
        in their stored format + KV cache) over that read bandwidth. With several --dtype values \
        each gets its own LLM rows (the vision block is fp32 and measured once). On CPUs with \
        AMX, bf16 and q8_0 prefill run on bf16 tiles (ADALLAVA_PREFILL_KERNEL=widen to keep \
        fp32 activations), so their gflops_ratio against the fp32 sgemm can exceed 1.

        EXAMPLES
          adallava bench block --shape llava-1.5-7b --tokens 128,600,1024 --contexts 128,1024,4096 --threads-list 1,2
          adallava bench block --shape llava-1.5-7b --dtype f32,bf16,q8_0 --tokens 600 --contexts 1024 --no-vision --json
        """
    )

    @Option(help: ArgumentHelp("Preset whose shapes to use.", valueName: "preset"))
    var shape: String = Preset.llava1_5_7b.rawValue

    @Option(help: ArgumentHelp("Prefill prompt lengths, comma-separated.", valueName: "n,n"))
    var tokens: String = "128,600,1024"

    @Option(help: ArgumentHelp("Decode KV-cache lengths, comma-separated.", valueName: "n,n"))
    var contexts: String = "128,1024,4096"

    @Option(help: ArgumentHelp("Thread counts, comma-separated.", valueName: "n,n"))
    var threadsList: String = "\(ProcessInfo.processInfo.activeProcessorCount)"

    @Option(help: ArgumentHelp("Decoder weight formats, comma-separated: f32, bf16, q8_0.", valueName: "dtype,dtype"))
    var dtype: String = WeightDType.f32.rawValue

    @Option(help: "Timed repetitions per point (after one warm-up).")
    var repeats: Int = 5

    @Option(help: "Size of the array the read-bandwidth probe sums (far beyond the caches).")
    var streamMegabytes: Int = 512

    @Flag(help: "Skip the vision block.") var noVision = false
    @Flag(help: "Print CSV instead of the table.") var csv = false
    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        guard Preset(rawValue: shape) != nil else {
            throw ValidationError("--shape '\(shape)' is not a preset (\(Preset.names.joined(separator: ", ")))")
        }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        _ = try dtypes()
        if streamMegabytes < 1 { throw ValidationError("--stream-megabytes must be at least 1, got \(streamMegabytes)") }
        for (list, name) in [(tokens, "--tokens"), (contexts, "--contexts"), (threadsList, "--threads-list")] {
            if let bad = try parseIntList(list, option: name).first(where: { $0 < 1 }) {
                throw ValidationError("\(name): \(bad) must be at least 1")
            }
        }
    }

    /// `--dtype` parsed.
    func dtypes() throws -> [WeightDType] {
        try dtype.split(separator: ",").map { part in
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let d = WeightDType(rawValue: name) else {
                throw ValidationError("--dtype: '\(name)' is not a weight format (\(WeightDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return d
        }
    }

    func run() throws {
        reportBLASKernels()
        let preset = Preset(rawValue: shape)!
        var rows: [BlockBenchmarkRow] = []
        let threadCounts = try parseIntList(threadsList, option: "--threads-list")
        // One block in memory at a time: each dtype's block is built, measured and dropped.
        for (i, d) in try dtypes().enumerated() {
            progress("building one \(shape) decoder block (\(d.rawValue)) and one vision block (synthetic weights)")
            let bench = try BlockBenchmark(preset: preset, dtype: d)
            // Decode streams the weights: say whether they got 2 MB pages (`HugePages`).
            if let huge = HugePages.residentBytes() {
                progress("decoder block: \(bench.decoder.weightBytes / 1_000_000) MB of weights; this process holds "
                         + "\(huge / 1_000_000) MB in 2 MB pages")
            }
            for threads in threadCounts {
                // Each row between two samples of its yardsticks; the sample after one row is
                // the sample before the next (see `Yardsticks`).
                var before = Yardsticks.sample(threads: threads, streamMegabytes: streamMegabytes)
                func measured(_ what: String, _ body: () -> BlockBenchmarkRow) {
                    let row = body()
                    let after = Yardsticks.sample(threads: threads, streamMegabytes: streamMegabytes)
                    let y = Yardsticks(before: before, after: after)
                    before = after
                    rows.append(row.rated(against: y))
                    progress("\(what), \(threads) thread(s): \(fmt(row.medianMs, 2)) ms; beside it sgemm \(fmt(y.gflops, 1)) GFLOP/s, "
                             + "read \(fmt(y.gbps, 1)) GB/s")
                }
                for n in try parseIntList(tokens, option: "--tokens") {
                    measured("llm.block \(d.rawValue) prefill \(n) tokens") { bench.prefill(tokens: n, threads: threads, repeats: repeats) }
                }
                for c in try parseIntList(contexts, option: "--contexts") {
                    measured("llm.block \(d.rawValue) decode at context \(c)") { bench.decode(context: c, threads: threads, repeats: repeats) }
                }
                if !noVision && i == 0 {
                    measured("vision.block") { bench.visionBlock(threads: threads, repeats: repeats) }
                }
            }
        }
        let provenance = Provenance.current(threads: threadCounts.max() ?? 1)
        try printRows(rows, provenance: provenance, json: output.json, csv: csv)
    }
}

