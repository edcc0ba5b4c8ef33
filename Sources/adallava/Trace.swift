import ArgumentParser
import Contention
import Foundation

/// `adallava trace`: make contention and request traces (synthesise, record, import).
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Synthesise, record or import contention and request traces.",
        discussion: """
        A contention trace is CSV with the header t_s,cpu_busy_cores,mem_bw_gbps: background \
        busy cores and memory traffic (GB/s), piecewise constant from each row's time to the \
        next; the last row marks the end. A request trace has the header \
        t_s,budget_ms,prompt_tokens,image,max_new_tokens. Lines starting with # are comments; \
        every trace written here records in them how it was made (the exact command), its \
        units and, for imports, the source's licence and the scaling applied.
        """,
        subcommands: [TraceSynthCommand.self, TraceRecordCommand.self, TraceImportCommand.self]
    )
}

/// The command line as typed, for the `made by:` comment of every written trace.
func commandLineComment() -> String {
    let args = CommandLine.arguments.dropFirst().map { a in
        a.contains(where: { " \"'$".contains($0) }) ? "'\(a.replacingOccurrences(of: "'", with: "'\\''"))'" : a
    }
    return "made by: adallava " + args.joined(separator: " ")
}

/// Writes a trace's text to `--out` (or stdout for `-`), naming the file in errors.
func writeTrace(_ text: String, to out: String) throws {
    if out == "-" {
        FileHandle.standardOutput.write(Data(text.utf8))
        return
    }
    do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch {
        throw CLIError(message: "\(out): cannot write file (\(error.localizedDescription))")
    }
}

/// Parses `lo:hi` (or one number) as an inclusive range.
func parseRange<T: LosslessStringConvertible & Comparable>(_ text: String, option: String, as: T.Type) throws -> ClosedRange<T> {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
    guard (1...2).contains(parts.count), let lo = T(parts[0]), let hi = T(parts[parts.count - 1]), lo <= hi else {
        throw ValidationError("\(option) '\(text)' is not a range: expected lo:hi with lo ≤ hi, e.g. 200:800")
    }
    return lo...hi
}

struct TraceSynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic contention trace (--kind) or request trace (--requests).",
        discussion: """
        Deterministic from --seed: the same command writes the same file.

        Contention kinds: idle (no load); step (four equal segments: idle, --max-cores only, \
        --max-gbps only, both); sine (cores and bandwidth a quarter period apart, three \
        periods); bursty (idle gaps ~20 s and bursts ~8 s, exponential, burst levels uniform in \
        30–100% of the maxima, changing every --step s with probability 0.3); ramp (0 to the \
        maxima linearly).

        Request traces: Poisson (default) or fixed-rate arrivals at --rate per second, \
        --count requests or all arrivals within --duration seconds, budgets uniform (or \
        log-uniform) in --budget-ms, prompt lengths uniform in --prompt-tokens.

        EXAMPLES
          adallava trace synth --kind bursty --duration 600 --seed 1 --out traces/bursty-600s.csv
          adallava trace synth --requests --count 1000 --rate 2 --budget-ms 200:800 --prompt-tokens 16:64 --max-new-tokens 8 --seed 1 --out requests.csv
        """
    )

    @Option(help: ArgumentHelp("Contention trace shape: \(Contention.TraceSynth.Kind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kind"))
    var kind: String?
    @Flag(help: "Write a request trace instead of a contention trace.") var requests = false
    @Option(help: ArgumentHelp("Trace length, seconds (requests: arrivals before this time).", valueName: "s")) var duration: Double?
    @Option(help: "Seed of the generator.") var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Busy cores at the trace's peak.", valueName: "cores")) var maxCores: Double = 1
    @Option(help: ArgumentHelp("Background GB/s at the trace's peak.", valueName: "gbps")) var maxGbps: Double = 10
    @Option(help: ArgumentHelp("Time resolution of sine, bursty and ramp, seconds.", valueName: "s")) var step: Double = 1
    @Option(help: "Number of requests.") var count: Int?
    @Option(help: ArgumentHelp("Requests per second.", valueName: "r")) var rate: Double = 1
    @Option(help: ArgumentHelp("Arrival process: poisson or fixed.", valueName: "kind")) var arrival: String = "poisson"
    @Option(help: ArgumentHelp("Budget range in ms.", valueName: "lo:hi")) var budgetMs: String = "200:800"
    @Flag(help: "Draw budgets uniformly in log space instead of linearly.") var logBudgets = false
    @Option(help: ArgumentHelp("Prompt length range in tokens.", valueName: "lo:hi")) var promptTokens: String = "16:64"
    @Option(help: "Tokens to generate per request.") var maxNewTokens: Int = 8
    @Option(help: ArgumentHelp("Image of every request: a path or 'synthetic'.", valueName: "path")) var image: String = "synthetic"
    @Option(help: ArgumentHelp("Output file ('-' for standard output).", valueName: "file")) var out: String = "-"

    mutating func validate() throws {
        if requests {
            if kind != nil { throw ValidationError("--kind is for contention traces; drop it with --requests") }
            if (count == nil) == (duration == nil) { throw ValidationError("--requests needs exactly one of --count and --duration") }
            if let c = count, c < 1 || c > 10_000_000 { throw ValidationError("--count must be in 1…10000000, got \(c)") }
            if !(rate > 0 && rate <= 1e6) { throw ValidationError("--rate must be positive, got \(rate)") }
            if !["poisson", "fixed"].contains(arrival) { throw ValidationError("--arrival must be poisson or fixed, got '\(arrival)'") }
            let b = try parseRange(budgetMs, option: "--budget-ms", as: Double.self)
            if !(b.lowerBound > 0) || b.upperBound > RequestTrace.maxBudgetMs { throw ValidationError("--budget-ms must lie in (0, \(Int(RequestTrace.maxBudgetMs))] ms, got \(budgetMs)") }
            let p = try parseRange(promptTokens, option: "--prompt-tokens", as: Int.self)
            if p.lowerBound < 1 || p.upperBound > RequestTrace.maxTokens { throw ValidationError("--prompt-tokens must lie in 1…\(RequestTrace.maxTokens), got \(promptTokens)") }
            if maxNewTokens < 1 || maxNewTokens > RequestTrace.maxTokens { throw ValidationError("--max-new-tokens must be at least 1, got \(maxNewTokens)") }
            if image.isEmpty || image.contains(",") || image.contains("\"") { throw ValidationError("--image must be a path without commas or quotes, or 'synthetic'") }
        } else {
            guard let kind else { throw ValidationError("give --kind (\(Contention.TraceSynth.Kind.allCases.map(\.rawValue).joined(separator: ", "))) or --requests") }
            if Contention.TraceSynth.Kind(rawValue: kind) == nil {
                throw ValidationError("--kind '\(kind)' is not one of \(Contention.TraceSynth.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let d = duration, d > 0, d <= 1e7 else { throw ValidationError("--duration (seconds, positive) is required for a contention trace") }
            if !(maxCores >= 0 && maxCores <= ContentionTrace.maxCores) { throw ValidationError("--max-cores must lie in 0…\(Int(ContentionTrace.maxCores)), got \(maxCores)") }
            if !(maxGbps >= 0 && maxGbps <= ContentionTrace.maxBandwidthGBps) { throw ValidationError("--max-gbps must lie in 0…\(Int(ContentionTrace.maxBandwidthGBps)), got \(maxGbps)") }
            if !(step >= 0.001 && step <= d) { throw ValidationError("--step must lie in 0.001…duration seconds, got \(step)") }
        }
    }

    func run() throws {
        let made = commandLineComment()
        if requests {
            let length: Contention.TraceSynth.Length = count.map { .count($0) } ?? .duration(duration!)
            let budgets = try parseRange(budgetMs, option: "--budget-ms", as: Double.self)
            var trace = Contention.TraceSynth.requests(
                length, arrival: arrival == "fixed" ? .fixed(rate: rate) : .poisson(rate: rate),
                budgets: logBudgets ? .logUniform(budgets) : (budgets.lowerBound == budgets.upperBound ? .fixed(budgets.lowerBound) : .uniform(budgets)),
                promptTokens: try parseRange(promptTokens, option: "--prompt-tokens", as: Int.self),
                maxNewTokens: maxNewTokens, image: image, seed: seed)
            trace.comments.insert(made, at: 0)
            trace.comments.append("licence: generated data, CC0")
            try writeTrace(trace.csv(), to: out)
            if out != "-" { progress("wrote \(trace.requests.count) requests over \(String(format: "%.1f", trace.duration)) s to \(out)") }
        } else {
            var trace = Contention.TraceSynth.contention(kind: .init(rawValue: kind!)!, duration: duration!, seed: seed,
                                                         maxCores: maxCores, maxBandwidthGBps: maxGbps, step: step)
            trace.comments.insert(made, at: 0)
            trace.comments.append("licence: generated data, CC0")
            try writeTrace(trace.csv(), to: out)
            if out != "-" {
                let mean = trace.meanLevel
                progress("wrote \(trace.points.count) rows, \(String(format: "%g", trace.duration)) s, mean \(String(format: "%.2f", mean.cpuBusyCores)) cores \(String(format: "%.2f", mean.memBandwidthGBps)) GB/s to \(out)")
            }
        }
    }
}

struct TraceRecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record this machine's real background load as a contention trace.",
        discussion: """
        Every --interval seconds: busy cores of other processes (machine busy time from \
        /proc/stat minus this process's own, over the interval) and background memory \
        bandwidth (a 2 MB read probe against an idle calibration; coarse). A progress line \
        per sample goes to standard error.

        EXAMPLE
          adallava trace record --duration 60 --out traces/recorded-60s.csv
        """
    )

    @Option(help: ArgumentHelp("Seconds to record.", valueName: "s")) var duration: Double
    @Option(help: ArgumentHelp("Seconds between samples (≥ 0.1).", valueName: "s")) var interval: Double = 1
    @Option(help: ArgumentHelp("Output file ('-' for standard output).", valueName: "file")) var out: String = "-"

    mutating func validate() throws {
        if !(duration > 0 && duration <= 1e6) { throw ValidationError("--duration must be positive, got \(duration)") }
        if !(interval >= 0.1 && interval <= duration) { throw ValidationError("--interval must lie in 0.1…duration seconds, got \(interval)") }
    }

    func run() throws {
        progress("calibrating the bandwidth probe…")
        let sensor = ContentionSensor()
        var trace = TraceRecorder.record(duration: duration, interval: interval, sensor: sensor) { elapsed, r in
            progress(String(format: "%6.1f/%g s  background %.2f cores  %.2f GB/s  (sensor %.2f ms)",
                            elapsed, duration, r.level.cpuBusyCores, r.level.memBandwidthGBps, r.overheadMs))
        }
        trace.comments.insert(commandLineComment(), at: 0)
        trace.comments.append("licence: measured data, CC0")
        try writeTrace(trace.csv(), to: out)
        if out != "-" { progress("wrote \(trace.points.count) rows to \(out)") }
    }
}

struct TraceImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a public cluster trace or any CSV of utilisation into a contention trace.",
        discussion: """
        alibaba-machine-usage: Alibaba cluster-trace-v2018 machine_usage.csv (no header; \
        machine_id,time_stamp,cpu_util_percent,mem_util_percent,mem_gps,mkpi,net_in,net_out,\
        disk_io_percent). One machine (--machine, default the first in the file) becomes \
        cpu_busy_cores = cpu_util_percent/100 × this machine's cores × --cores-scale and \
        mem_bw_gbps = mem_gps/100 × this machine's all-cores read bandwidth (measured now, \
        or --bandwidth-gbps). The file is read line by line, so the full multi-GB file works.

        csv: any CSV with a header; --time-column, --cpu-column and optionally --bw-column \
        name columns (header name or 1-based number), with --cpu-unit cores|percent|fraction \
        and --bw-unit gbps|percent.

        The scaling is written into the output's comments.

        EXAMPLES
          adallava trace import --format alibaba-machine-usage --in machine_usage.csv --machine m_1932 --duration 3600 --out traces/alibaba-m_1932.csv
          adallava trace import --format csv --in util.csv --time-column time --cpu-column cpu --cpu-unit percent --out t.csv
        """
    )

    @Option(help: ArgumentHelp("Input format: alibaba-machine-usage or csv.", valueName: "format")) var format: String
    @Option(name: .customLong("in"), help: ArgumentHelp("Input file.", valueName: "file")) var input: String
    @Option(help: ArgumentHelp("Output file ('-' for standard output).", valueName: "file")) var out: String = "-"
    @Option(help: "Alibaba machine_id to keep (default: the first in the file).") var machine: String?
    @Option(help: ArgumentHelp("Factor on the converted busy cores.", valueName: "x")) var coresScale: Double = 1
    @Option(help: ArgumentHelp("This machine's cores (default: the CPUs online).", valueName: "n")) var cores: Double?
    @Option(help: ArgumentHelp("GB/s that 100% bandwidth maps to (default: measured now).", valueName: "gbps")) var bandwidthGbps: Double?
    @Option(help: ArgumentHelp("alibaba: skip this many seconds from the start of the source.", valueName: "s")) var start: Double = 0
    @Option(help: ArgumentHelp("alibaba: keep this many seconds.", valueName: "s")) var duration: Double?
    @Option(help: "csv: time column (name or 1-based number).") var timeColumn: String = "t_s"
    @Option(help: ArgumentHelp("csv: seconds per unit of the time column (0.001 for ms).", valueName: "x")) var timeScale: Double = 1
    @Option(help: "csv: CPU column (name or 1-based number).") var cpuColumn: String = "cpu"
    @Option(help: "csv: unit of the CPU column: cores, percent or fraction.") var cpuUnit: String = "percent"
    @Option(help: "csv: bandwidth column (name or 1-based number); none if omitted.") var bwColumn: String?
    @Option(help: "csv: unit of the bandwidth column: gbps or percent.") var bwUnit: String = "gbps"

    mutating func validate() throws {
        if !["alibaba-machine-usage", "csv"].contains(format) { throw ValidationError("--format must be alibaba-machine-usage or csv, got '\(format)'") }
        if !(coresScale > 0 && coresScale <= 100) { throw ValidationError("--cores-scale must be positive, got \(coresScale)") }
        if let c = cores, !(c > 0 && c <= ContentionTrace.maxCores) { throw ValidationError("--cores must be positive, got \(c)") }
        if let b = bandwidthGbps, !(b > 0 && b <= ContentionTrace.maxBandwidthGBps) { throw ValidationError("--bandwidth-gbps must be positive, got \(b)") }
        if !(start >= 0) { throw ValidationError("--start must be at least 0, got \(start)") }
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be positive, got \(d)") }
        if !(timeScale > 0) { throw ValidationError("--time-scale must be positive, got \(timeScale)") }
        if TraceImport.CPUUnit(rawValue: cpuUnit) == nil { throw ValidationError("--cpu-unit must be cores, percent or fraction, got '\(cpuUnit)'") }
        if TraceImport.BandwidthUnit(rawValue: bwUnit) == nil { throw ValidationError("--bw-unit must be gbps or percent, got '\(bwUnit)'") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: input)
        guard FileManager.default.isReadableFile(atPath: input) else {
            throw ContentionError.badTrace(file: input, line: 0, reason: FileManager.default.fileExists(atPath: input) ? "cannot read the file" : "no such file")
        }
        let needsBandwidth = format == "alibaba-machine-usage" || (bwColumn != nil && bwUnit == "percent")
        var bandwidth = bandwidthGbps ?? 0
        if bandwidthGbps == nil && needsBandwidth {
            progress("measuring this machine's read bandwidth (pass --bandwidth-gbps to skip)…")
            bandwidth = ContentionSensor().peakGBps
            progress(String(format: "all-cores read bandwidth %.1f GB/s", bandwidth))
        }
        let scaling = TraceImport.Scaling(cores: cores ?? Double(ProcessInfo.processInfo.activeProcessorCount),
                                          coresScale: coresScale, bandwidthGBps: bandwidth)
        var trace: ContentionTrace
        if format == "alibaba-machine-usage" {
            trace = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: url), file: input, machine: machine,
                                                        scaling: scaling, start: start, duration: duration)
        } else {
            trace = try TraceImport.columns(lines: TraceImport.lines(of: url), file: input, time: timeColumn, cpu: cpuColumn,
                                            bandwidth: bwColumn, timeScale: timeScale, cpuUnit: .init(rawValue: cpuUnit)!,
                                            bandwidthUnit: .init(rawValue: bwUnit)!, scaling: scaling)
        }
        trace.comments.insert(commandLineComment(), at: 0)
        trace.comments.insert("units: t_s seconds from start; cpu_busy_cores background cores busy; mem_bw_gbps background GB/s", at: 1)
        try writeTrace(trace.csv(), to: out)
        if out != "-" { progress("wrote \(trace.points.count) rows, \(String(format: "%g", trace.duration)) s, to \(out)") }
    }
}
