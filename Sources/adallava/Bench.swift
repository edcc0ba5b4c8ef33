import ArgumentParser
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// `adallava bench`: benchmarks that print ratios measured in the same run.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: prefill vs this machine's sgemm peak, single blocks vs sgemm and bandwidth, adaptive plans vs their FLOPs.",
        subcommands: [BenchPrefill.self, BenchPlans.self, BenchBlock.self, BenchPredict.self],
        defaultSubcommand: BenchPrefill.self
    )
}

/// `adallava bench prefill`: prefill throughput next to this machine's sgemm peak, in one run.
struct BenchPrefill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefill",
        abstract: "Time the language model's prefill and compare it with cblas_sgemm measured in the same run.",
        discussion: """
        For each thread count: measures cblas_sgemm 2048³ GFLOP/s (5 samples before and 5 \
        after the prefills, so the yardstick sees the same machine state), then times --repeats \
        prefills of a text-only prompt of --prompt-tokens tokens (every decoder block plus \
        lm_head of the last position) after one warm-up, and reports median, min and max \
        time, achieved GFLOP/s (executed FLOPs at the median time) and its ratio to sgemm.

        Progress goes to standard error; the table, --csv or --json to standard output.

        EXAMPLE
          adallava bench prefill --model tinyllava-1.1b --prompt-tokens 600 --threads-list 1,2 --repeats 3
        """
    )

    @Option(help: ArgumentHelp("Preset or checkpoint directory.", valueName: "dir|preset"))
    var model: String = "tinyllava-1.1b"

    @Option(help: "Seed of a preset's synthetic weights.")
    var seed: UInt64 = 0

    @Option(help: "Prompt length in tokens.")
    var promptTokens: Int = 600

    @Option(help: ArgumentHelp("Thread counts to measure, comma-separated.", valueName: "n,n"))
    var threadsList: String = "1,2"

    @Option(help: "Timed repetitions per thread count (after one warm-up).")
    var repeats: Int = 3

    @Flag(help: "Print CSV instead of the table.")
    var csv = false

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if promptTokens < 1 { throw ValidationError("--prompt-tokens must be at least 1, got \(promptTokens)") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        let threads = try parseIntList(threadsList, option: "--threads-list")
        if let bad = threads.first(where: { $0 < 1 }) { throw ValidationError("--threads-list: \(bad) is not a positive thread count") }
    }

    func run() throws {
        reportBLASKernels()
        let threadCounts = try parseIntList(threadsList, option: "--threads-list")
        let spec = try ModelSpec.resolve(model, seed: seed)
        try spec.checkFits(contextTokens: promptTokens)
        progress("building \(model) (\(spec.origin))")
        let loaded = try spec.load()
        let bench = PrefillBenchmark(model: loaded, label: model)
        var rows: [BenchmarkRow] = []
        for threads in threadCounts {
            // The yardstick is sampled before and after the prefills, so a noisy spell on this
            // shared machine shows up in its spread instead of silently skewing the ratio.
            let before = SgemmPeak.measure(threads: threads, repeats: 5)
            progress("sgemm 2048³, \(threads) thread(s), before: \(String(format: "%.1f", before.median)) GFLOP/s")
            let prefill = bench.run(tokens: promptTokens, threads: threads, repeats: repeats, sgemm: before, progress: progress)
            let after = SgemmPeak.measure(threads: threads, repeats: 5)
            progress("sgemm 2048³, \(threads) thread(s), after: \(String(format: "%.1f", after.median)) GFLOP/s")
            let sgemm = Summary(before.samples + after.samples)
            rows.append(.sgemm(sgemm, threads: threads))
            rows.append(prefill.comparedWith(sgemm))
        }
        let provenance = Provenance.current(threads: threadCounts.max() ?? 1)
        try printRows(rows, provenance: provenance, json: output.json, csv: csv)
    }
}

/// A benchmark's row type: one schema behind the table, CSV and JSON printers.
protocol TabularRow: Encodable {
    static var columns: [String] { get }
    var fields: [String] { get }
}

extension BenchmarkRow: TabularRow {}
extension PlanBenchmarkRow: TabularRow {}
extension BlockBenchmarkRow: TabularRow {}

/// `--json` output: the rows and the provenance they share.
struct RowsReport<Row: Encodable>: Encodable {
    var provenance: Provenance
    var rows: [Row]
}

/// Prints rows as JSON, as CSV under `#` provenance lines, or as a Markdown table (with an
/// optional `title` line) followed by the provenance.
func printRows<Row: TabularRow>(_ rows: [Row], provenance: Provenance, json: Bool, csv: Bool, title: String? = nil) throws {
    if json {
        print(try jsonString(RowsReport(provenance: provenance, rows: rows)))
    } else if csv {
        print(provenance.csvComment)
        print(Row.columns.joined(separator: ","))
        for row in rows { print(row.fields.joined(separator: ",")) }
    } else {
        if let title { print(title) }
        print(markdownTable(header: Row.columns, rows: rows.map(\.fields)))
        print("\n" + provenance.csvComment.replacingOccurrences(of: "# ", with: ""))
    }
}

/// A Markdown table (readable in a terminal and pasteable into notes).
func markdownTable(header: [String], rows: [[String]]) -> String {
    let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        "| " + cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
    }
    return ([line(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
        + rows.map(line)).joined(separator: "\n")
}
