import Contention
import Foundation

extension BackgroundLoadHandle {
    /// Starts `adallava stress` at `level` (`executable`: the adallava binary, default this
    /// process's own) and measures what it achieves over each window between `achieved()`
    /// calls — i.e. over each profiled point — from the generator's time-weighted means.
    public static func start(_ level: ContentionLevel, executable: URL? = nil) throws -> BackgroundLoadHandle {
        let load = try BackgroundLoad.start(level: level, executable: executable)
        let window = AchievedWindow()
        return BackgroundLoadHandle(
            achieved: { window.next(load.latestReport()) },
            stop: { load.stop() })
    }
}

/// Turns the generator's running means into the mean over the last window: with means m₁ at
/// t₁ and m₂ at t₂, the window's mean is (m₂·t₂ − m₁·t₁) / (t₂ − t₁). A window shorter than
/// one report interval gets the last interval's achieved load.
final class AchievedWindow: @unchecked Sendable {
    private var last: (t: Double, mean: ContentionLevel)?

    func next(_ report: StressReport?) -> ContentionLevel {
        guard let r = report else { return .idle }
        defer { last = (r.elapsedS, r.meanAchieved) }
        guard let l = last, r.elapsedS > l.t + 1e-6 else { return r.achieved }
        let span = r.elapsedS - l.t
        func window(_ now: Double, _ before: Double) -> Double { max(0, (now * r.elapsedS - before * l.t) / span) }
        return ContentionLevel(cpuBusyCores: window(r.meanAchieved.cpuBusyCores, l.mean.cpuBusyCores),
                               memBandwidthGBps: window(r.meanAchieved.memBandwidthGBps, l.mean.memBandwidthGBps))
    }
}
