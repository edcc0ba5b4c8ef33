import Foundation

/// Records this machine's real background load as a contention trace.
public enum TraceRecorder {
    /// Samples every `interval` seconds for `duration` seconds with a `ContentionSensor`
    /// (busy cores of other processes from /proc/stat, background GB/s from the probe model).
    /// Each reading covers the interval before it, so its row starts at the interval's start.
    /// `progress` is called after each sample with (elapsed, reading).
    public static func record(duration: Double, interval: Double = 1, sensor: ContentionSensor = ContentionSensor(),
                              progress: (Double, ContentionReading) -> Void = { _, _ in }) -> ContentionTrace {
        let interval = max(interval, ContentionSensor.minWindow)
        let start = SystemCalls.now()
        _ = sensor.sense()  // the window of the first row starts now
        var rows: [(Double, Double, Double)] = []
        var next = interval
        var overheads: [Double] = []
        while next <= duration + 1e-9 {
            SystemCalls.sleep(start + next - SystemCalls.now())
            let r = sensor.sense()
            overheads.append(r.overheadMs)
            rows.append((next - interval, r.level.cpuBusyCores, r.level.memBandwidthGBps))
            progress(SystemCalls.now() - start, r)
            next += interval
        }
        if rows.isEmpty { rows = [(0, 0, 0)] }
        var trace = TraceImport.compress(rows, end: max(duration, interval))
        let host = ProcessInfo.processInfo.hostName
        let medianOverhead = overheads.sorted().dropFirst(overheads.count / 2).first ?? 0
        trace.comments = [
            "recorded on \(host) (\(ContentionSensor.cpuCount) CPUs) for \(CSVLines.format(duration)) s, one sample every \(CSVLines.format(interval)) s, started \(ISO8601DateFormatter().string(from: Date().addingTimeInterval(-(SystemCalls.now() - start))))",
            "cpu_busy_cores: busy time of other processes from /proc/stat minus the recorder's own, per interval",
            "mem_bw_gbps: coarse estimate from a 2 MB read probe vs idle calibration (probe \(CSVLines.format((sensor.idleProbeGBps * 10).rounded() / 10)) GB/s idle, peak \(CSVLines.format((sensor.peakGBps * 10).rounded() / 10)) GB/s): bw = peak × (1 − probe/idle)",
            "sensor overhead: median \(String(format: "%.2f", medianOverhead)) ms per sample",
        ]
        return trace
    }
}
