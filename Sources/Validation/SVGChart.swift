import Contention
import Foundation
import Simulation

/// One contention step: `level` holds from `t` seconds until the next step.
public struct ContentionStep: Sendable, Equatable {
    public var t: Double
    public var level: ContentionLevel
    public init(t: Double, level: ContentionLevel) { self.t = t; self.level = level }
}

/// The timeline figure of one group: latency and budget per request over time (top), the
/// background load beneath on the same time axis. Plain SVG, no script.
struct TimelineChart {
    var rows: [ReplayResult]
    var contention: [ContentionStep]
    /// Where the contention came from ("sensed at each request" or the trace path).
    var contentionSource: String
    var width = 1100.0
    let left = 64.0, right = 64.0
    let top = 34.0, latencyHeight = 250.0, gap = 44.0, loadHeight = 110.0, bottom = 34.0

    var svg: String {
        let height = top + latencyHeight + gap + loadHeight + bottom
        let plotW = width - left - right
        // The replay's span (a longer trace is cut there); the trace's length when there are no rows.
        let tMax = max(rows.map(\.endS).max() ?? contention.last?.t ?? 1, 1e-9)
        func x(_ t: Double) -> Double { left + plotW * t / tMax }
        // The axis covers the budgets and latencies up to twice the largest budget; a latency
        // beyond that is drawn as a triangle on the top edge, so one outlier cannot flatten the rest.
        let budgetMax = rows.map(\.budgetMs).max() ?? 1
        let msMax = ticks(max(min(rows.map(\.latencyMs).max() ?? 1, 2 * budgetMax), budgetMax, 1)).last!
        func yMs(_ ms: Double) -> Double { top + latencyHeight * (1 - min(ms, msMax) / msMax) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
            + "viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n"
        // Latency panel: grid, budget ticks, latency dots coloured by outcome.
        s += axisY(ticks: ticks(msMax), y: yMs, x0: left, x1: width - right, label: "ms", side: .left)
        s += "<text x=\"\(f(left))\" y=\"\(f(top - 18))\" font-weight=\"600\">latency (dots; ▲ beyond the axis) and budget (grey dashes) per request, by arrival time</text>\n"
        for r in rows {
            let cx = x(r.arrivalS)
            s += "<line x1=\"\(f(cx - 2.5))\" x2=\"\(f(cx + 2.5))\" y1=\"\(f(yMs(r.budgetMs)))\" y2=\"\(f(yMs(r.budgetMs)))\" stroke=\"#9aa0a6\" stroke-width=\"1.5\"/>"
        }
        s += "\n"
        for r in rows where r.outcome != Outcome.rejected.rawValue {
            let color: String
            switch r.outcome {
            case Outcome.infeasible.rawValue: color = "#e8a317"
            default: color = r.withinBudget ? "#1e8e3e" : "#d93025"
            }
            let radius = r.withinBudget ? 1.8 : 3.2
            let tip = "<title>request \(r.request): \(f(r.latencyMs)) ms of \(f(r.budgetMs)) ms, \(escape(r.plan))</title>"
            let cx = x(r.arrivalS)
            if r.latencyMs > msMax {
                s += "<path d=\"M\(f(cx - 3.5)),\(f(top + 5)) L\(f(cx + 3.5)),\(f(top + 5)) L\(f(cx)),\(f(top - 1)) Z\" fill=\"\(color)\">\(tip)</path>"
            } else {
                s += "<circle cx=\"\(f(cx))\" cy=\"\(f(yMs(r.latencyMs)))\" r=\"\(f(radius))\" fill=\"\(color)\">\(tip)</circle>"
            }
        }
        s += "\n"
        // Contention panel: busy cores as a filled step area (left axis), GB/s as a line (right axis).
        let y0 = top + latencyHeight + gap
        let coresMax = ticks(max(contention.map(\.level.cpuBusyCores).max() ?? 0, 1)).last!
        let bwMax = ticks(max(contention.map(\.level.memBandwidthGBps).max() ?? 0, 1)).last!
        func yCores(_ c: Double) -> Double { y0 + loadHeight * (1 - c / coresMax) }
        func yBW(_ b: Double) -> Double { y0 + loadHeight * (1 - b / bwMax) }
        s += "<text x=\"\(f(left))\" y=\"\(f(y0 - 18))\" font-weight=\"600\">background load (\(escape(contentionSource))): "
            + "<tspan fill=\"#4285f4\">busy cores</tspan>, <tspan fill=\"#a142f4\">memory GB/s</tspan></text>\n"
        s += axisY(ticks: ticks(coresMax), y: yCores, x0: left, x1: width - right, label: "cores", side: .left)
        s += axisY(ticks: ticks(bwMax), y: yBW, x0: left, x1: width - right, label: "GB/s", side: .right, grid: false)
        if !contention.isEmpty {
            var area = "M\(f(x(contention[0].t))),\(f(yCores(0)))"
            var bw = ""
            for (i, step) in contention.enumerated() where step.t < tMax || i == 0 {
                let end = min(tMax, i + 1 < contention.count ? contention[i + 1].t : tMax)
                area += " L\(f(x(step.t))),\(f(yCores(step.level.cpuBusyCores))) L\(f(x(end))),\(f(yCores(step.level.cpuBusyCores)))"
                bw += (i == 0 ? "M" : " L") + "\(f(x(step.t))),\(f(yBW(step.level.memBandwidthGBps))) L\(f(x(end))),\(f(yBW(step.level.memBandwidthGBps)))"
            }
            area += " L\(f(x(tMax))),\(f(yCores(0))) Z"
            s += "<path d=\"\(area)\" fill=\"#4285f4\" fill-opacity=\"0.35\" stroke=\"#4285f4\" stroke-width=\"1\"/>\n"
            s += "<path d=\"\(bw)\" fill=\"none\" stroke=\"#a142f4\" stroke-width=\"1.5\"/>\n"
        }
        // Shared time axis under the load panel.
        let yAxis = y0 + loadHeight
        for t in ticks(tMax) where t <= tMax {
            s += "<line x1=\"\(f(x(t)))\" x2=\"\(f(x(t)))\" y1=\"\(f(yAxis))\" y2=\"\(f(yAxis + 4))\" stroke=\"#5f6368\"/>"
            s += "<text x=\"\(f(x(t)))\" y=\"\(f(yAxis + 16))\" text-anchor=\"middle\" fill=\"#5f6368\">\(label(t))</text>"
        }
        s += "<text x=\"\(f(width - right))\" y=\"\(f(yAxis + 30))\" text-anchor=\"end\" fill=\"#5f6368\">time since start of replay (s)</text>\n"
        s += "</svg>"
        return s
    }

    enum Side { case left, right }

    private func axisY(ticks values: [Double], y: (Double) -> Double, x0: Double, x1: Double, label unit: String,
                       side: Side, grid: Bool = true) -> String {
        var s = ""
        for v in values {
            if grid { s += "<line x1=\"\(f(x0))\" x2=\"\(f(x1))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#e8eaed\"/>" }
            let tx = side == .left ? x0 - 6 : x1 + 6
            s += "<text x=\"\(f(tx))\" y=\"\(f(y(v) + 4))\" text-anchor=\"\(side == .left ? "end" : "start")\" fill=\"#5f6368\">\(label(v))</text>"
        }
        let tx = side == .left ? x0 - 6 : x1 + 6
        s += "<text x=\"\(f(tx))\" y=\"\(f(y(values.last ?? 0) - 12))\" text-anchor=\"\(side == .left ? "end" : "start")\" fill=\"#5f6368\">\(unit)</text>\n"
        return s
    }
}

/// Round numbers for axes: 1, 2, 2.5 or 5 × 10ⁿ at or above `x`.
func niceCeiling(_ x: Double) -> Double {
    guard x > 0, x.isFinite else { return 1 }
    let p = pow(10, floor(log10(x)))
    for m in [1.0, 2, 2.5, 5, 10] where m * p >= x * (1 - 1e-12) { return m * p }
    return 10 * p
}

/// Ticks from 0 in a round step (1, 2, 2.5 or 5 × 10ⁿ) chosen for about four intervals, up to
/// the first tick at or above `maxValue`.
func ticks(_ maxValue: Double) -> [Double] {
    let step = niceCeiling(max(maxValue, 1e-9) / 4)
    let n = max(1, Int((maxValue / step - 1e-9).rounded(.up)))
    return (0...n).map { step * Double($0) }
}

func label(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(format: "%g", (v * 100).rounded() / 100) }
func f(_ v: Double) -> String { String(format: "%.1f", v) }

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
