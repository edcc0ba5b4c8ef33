import CWeightKernels

/// Which of OpenBLAS's per-CPU kernel sets this process runs, and why.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels at load time from the CPU model numbers it knew
/// when it was released. Debian 12's 0.3.21 does not know the Intel Xeon (family 6, model 207)
/// this project's CI runs on, and falls back to "Prescott", SSE3 kernels: 2-thread
/// `cblas_sgemm` 2048³ ran at 31 GFLOP/s there, and at 193-197 with the AVX-512 kernels the CPU
/// supports. Every prefill latency the profiler stores goes through those kernels, so a
/// load-time constructor (`CWeightKernels/blas_cores.c`) compares what OpenBLAS took the CPU for
/// with what `cpuid` says it can run and, when OpenBLAS chose older kernels, restarts the
/// program with `OPENBLAS_CORETYPE` naming the better ones. `OPENBLAS_CORETYPE` set by the user
/// is always respected.
public struct BLASKernels: Sendable, Equatable {
    /// The core type OpenBLAS chose by itself, e.g. `Prescott`.
    public let detected: String
    /// The core type whose kernels run now, e.g. `Cooperlake`.
    public let active: String
    /// Why `active` differs from `detected`, or nil when nothing was changed.
    public var note: String? {
        active == detected ? nil : "OpenBLAS took this CPU for \(detected); running its \(active) kernels, which the CPU supports"
    }

    /// The decision the constructor applied: the core type to switch to, or nil to keep
    /// `detected`. `best` is what this CPU supports (`adallava_cpu_blas_core`), `userChoice`
    /// the value of `OPENBLAS_CORETYPE` if set.
    public static func upgrade(detected: String, best: String?, userChoice: String?) -> String? {
        adallava_blas_upgrade(detected, best, userChoice).map { String(cString: $0) }
    }

    /// This process's choice, as the constructor made it.
    public static var current: BLASKernels {
        BLASKernels(detected: String(cString: adallava_blas_core_detected()),
                    active: String(cString: adallava_blas_core_active()))
    }
}
