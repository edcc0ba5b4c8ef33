import Foundation
import TensorKernels

/// Deterministic synthetic traces: the same arguments and seed give the same file.
public enum TraceSynth {
    /// Shapes of synthetic background load.
    public enum Kind: String, CaseIterable, Sendable {
        /// No background load.
        case idle
        /// Four equal segments: idle, cores only, bandwidth only, both at their maxima.
        case step
        /// Cores and bandwidth follow sines a quarter period apart, three periods per trace,
        /// sampled every `step` seconds.
        case sine
        /// Idle gaps (mean 20 s) and bursts (mean 8 s) of exponential length; each burst draws
        /// cores and bandwidth uniformly in [0.3, 1] × their maxima and changes level every
        /// `step` seconds with probability 0.3 — an on/off load like a shared server's.
        case bursty
        /// Both rise linearly from 0 to their maxima, sampled every `step` seconds.
        case ramp
    }

    /// A contention trace of `kind`, `duration` seconds long (its last row sits at `duration`).
    /// Levels are rounded to 0.001 cores and 0.01 GB/s, times to 0.001 s; rows only where the
    /// level changes.
    public static func contention(kind: Kind, duration: Double, seed: UInt64 = 1, maxCores: Double = 1,
                                  maxBandwidthGBps: Double = 10, step: Double = 1) -> ContentionTrace {
        let duration = max(0, duration), step = max(0.001, step)
        var rng = SplitMix64(seed: seed)
        var rows: [(Double, Double, Double)] = []  // (t, cores, GB/s)
        let samples = Int((duration / step).rounded(.up))
        switch kind {
        case .idle:
            rows = [(0, 0, 0)]
        case .step:
            let q = duration / 4
            rows = [(0, 0, 0), (q, maxCores, 0), (2 * q, 0, maxBandwidthGBps), (3 * q, maxCores, maxBandwidthGBps)]
        case .sine:
            let period = duration / 3, phase = rng.unit() * 2 * .pi
            for i in 0..<max(1, samples) {
                let t = Double(i) * step, x = 2 * .pi * t / max(period, step) + phase
                rows.append((t, maxCores * (1 + sin(x)) / 2, maxBandwidthGBps * (1 + sin(x + .pi / 2)) / 2))
            }
        case .bursty:
            var t = 0.0, on = false
            while t < duration {
                let length = max(step, (rng.exponential(mean: on ? 8 : 20) / step).rounded() * step)
                if on {
                    var u = t
                    var level = (rng.uniform(0.3...1) * maxCores, rng.uniform(0.3...1) * maxBandwidthGBps)
                    while u < min(t + length, duration) {
                        rows.append((u, level.0, level.1))
                        if rng.unit() < 0.3 { level = (rng.uniform(0.3...1) * maxCores, rng.uniform(0.3...1) * maxBandwidthGBps) }
                        u += step
                    }
                } else {
                    rows.append((t, 0, 0))
                }
                t += length
                on.toggle()
            }
        case .ramp:
            for i in 0..<max(1, samples) {
                let f = duration > 0 ? Double(i) * step / duration : 0
                rows.append((Double(i) * step, maxCores * f, maxBandwidthGBps * f))
            }
        }
        var points: [ContentionPoint] = []
        for (t, c, b) in rows where t < duration || points.isEmpty {
            let level = ContentionLevel(cpuBusyCores: (c * 1000).rounded() / 1000, memBandwidthGBps: (b * 100).rounded() / 100)
            let time = (t * 1000).rounded() / 1000
            if let last = points.last, last.level == level || time <= last.t { continue }
            points.append(ContentionPoint(t: points.isEmpty ? 0 : time, level: level))
        }
        if duration > 0 { points.append(ContentionPoint(t: (duration * 1000).rounded() / 1000, level: points.last!.level)) }
        return ContentionTrace(points: points, comments: [
            "synthetic contention trace: kind=\(kind.rawValue) duration=\(CSVLines.format(duration))s seed=\(seed) max_cores=\(CSVLines.format(maxCores)) max_bw_gbps=\(CSVLines.format(maxBandwidthGBps)) step=\(CSVLines.format(step))s",
            "units: t_s seconds from start; cpu_busy_cores background cores busy; mem_bw_gbps background memory traffic in GB/s (1e9 B/s)",
            "piecewise constant: each row holds until the next; the last row marks the end",
        ])
    }

    /// How request arrivals are spaced.
    public enum Arrival: Sendable, Hashable {
        /// Exponential gaps with mean 1/rate (requests per second).
        case poisson(rate: Double)
        /// Exactly 1/rate seconds apart, the first at 0.
        case fixed(rate: Double)
    }

    /// How budgets are drawn, in milliseconds.
    public enum Budgets: Sendable, Hashable {
        case fixed(Double)
        case uniform(ClosedRange<Double>)
        /// Uniform in log space: as many tight budgets as loose ones per factor of two.
        case logUniform(ClosedRange<Double>)
    }

    /// How many requests: a count, or every arrival before a time.
    public enum Length: Sendable, Hashable {
        case count(Int)
        case duration(Double)
    }

    /// A request trace: arrivals, budgets and prompt lengths drawn from `seed`. Times are
    /// rounded to 0.1 ms and budgets to 0.1 ms.
    public static func requests(_ length: Length, arrival: Arrival, budgets: Budgets,
                                promptTokens: ClosedRange<Int>, maxNewTokens: Int, image: String = "synthetic",
                                seed: UInt64 = 1) -> RequestTrace {
        var rng = SplitMix64(seed: seed)
        var requests: [TraceRequest] = []
        var t = 0.0
        let limit: Int, until: Double
        switch length {
        case .count(let n): limit = max(0, n); until = .infinity
        case .duration(let d): limit = .max; until = d
        }
        for i in 0..<limit {
            switch arrival {
            case .poisson(let rate): t += rng.exponential(mean: 1 / max(rate, 1e-9))
            case .fixed(let rate): t = Double(i) / max(rate, 1e-9)
            }
            guard t < until else { break }
            let budget: Double
            switch budgets {
            case .fixed(let b): budget = b
            case .uniform(let r): budget = rng.uniform(r)
            case .logUniform(let r): budget = exp(rng.uniform(log(max(r.lowerBound, 1e-9))...log(max(r.upperBound, 1e-9))))
            }
            let prompt = promptTokens.lowerBound + Int(rng.next() % UInt64(promptTokens.count))
            requests.append(TraceRequest(t: (t * 10_000).rounded() / 10_000, budgetMs: max(0.1, (budget * 10).rounded() / 10),
                                         promptTokens: prompt, image: image, maxNewTokens: maxNewTokens))
        }
        let arrivalText: String
        switch arrival {
        case .poisson(let r): arrivalText = "poisson rate=\(CSVLines.format(r))/s"
        case .fixed(let r): arrivalText = "fixed rate=\(CSVLines.format(r))/s"
        }
        let budgetText: String
        switch budgets {
        case .fixed(let b): budgetText = "fixed \(CSVLines.format(b)) ms"
        case .uniform(let r): budgetText = "uniform \(CSVLines.format(r.lowerBound))..\(CSVLines.format(r.upperBound)) ms"
        case .logUniform(let r): budgetText = "log-uniform \(CSVLines.format(r.lowerBound))..\(CSVLines.format(r.upperBound)) ms"
        }
        return RequestTrace(requests: requests, comments: [
            "synthetic request trace: \(requests.count) requests, arrivals \(arrivalText), budgets \(budgetText), prompt_tokens \(promptTokens.lowerBound)..\(promptTokens.upperBound), max_new_tokens \(maxNewTokens), seed=\(seed)",
            "units: t_s arrival seconds from start; budget_ms end-to-end latency budget in milliseconds; image a path or 'synthetic'",
        ])
    }
}
