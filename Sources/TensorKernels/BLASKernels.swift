import CGSL
import CWeightKernels
import Foundation

/// Which of OpenBLAS's per-CPU kernel sets this process runs, and why.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels at load time from the CPU model numbers it knew
/// when it was released. Debian 12's 0.3.21 does not know the Intel Xeon (family 6, model 207)
/// this project's CI runs on, and falls back to "Prescott", SSE3 kernels: 2-thread
/// `cblas_sgemm` 2048³ ran at 31 GFLOP/s there, and at 193-197 with the AVX-512 kernels the CPU
/// supports. Every prefill latency the profiler stores goes through those kernels, so `select`
/// compares what OpenBLAS took the CPU for with what `cpuid` says it can run, and switches to
/// the better kernels when OpenBLAS chose older ones. `OPENBLAS_CORETYPE` set by the user is
/// always respected.
public struct BLASKernels: Sendable, Equatable {
    /// The core type OpenBLAS chose by itself, e.g. `Prescott`.
    public let detected: String
    /// The core type whose kernels run now, e.g. `Cooperlake`.
    public let active: String
    /// Why `active` differs from `detected`, or nil when nothing was changed.
    public let note: String?

    /// Rank of the instruction set each known OpenBLAS core type's kernels use: 0 before AVX,
    /// 1 AVX, 2 AVX2 + FMA, 3 AVX-512, 4 AVX-512 with BF16. Names not listed are left alone.
    static let rank: [String: Int] = {
        var r: [String: Int] = [:]
        for n in ["unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
                  "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat"] { r[n] = 0 }
        for n in ["sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"] { r[n] = 1 }
        for n in ["haswell", "zen"] { r[n] = 2 }
        r["skylakex"] = 3
        for n in ["cooperlake", "sapphirerapids"] { r[n] = 4 }
        return r
    }()

    /// The decision, without side effects: the core type to switch to, or nil to keep
    /// `detected`. `best` is what this CPU supports (`adallava_cpu_blas_core`), `userChoice`
    /// the value of `OPENBLAS_CORETYPE` if set.
    public static func upgrade(detected: String, best: String?, userChoice: String?) -> String? {
        guard userChoice?.isEmpty ?? true, let best,
              let have = rank[detected.lowercased()], let can = rank[best.lowercased()], can > have
        else { return nil }
        return best
    }

    /// Applies `upgrade` to this process's OpenBLAS. Called once, through `BLAS.kernels`.
    static func select() -> BLASKernels {
        let detected = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        let best = adallava_cpu_blas_core().map { String(cString: $0) }
        let user = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        guard let target = upgrade(detected: detected, best: best, userChoice: user),
              adallava_openblas_use_core(target) == 1
        else { return BLASKernels(detected: detected, active: detected, note: nil) }
        let active = openblas_get_corename().map { String(cString: $0) } ?? target
        return BLASKernels(detected: detected, active: active,
                           note: "OpenBLAS took this CPU for \(detected); running its \(active) kernels, which the CPU supports")
    }
}
