import CWeightKernels
import Foundation
import Testing
@testable import TensorKernels

@Suite("OpenBLAS kernel choice")
struct BLASKernelsTests {
    @Test("Kernels older than the CPU supports are replaced by the best it supports")
    func upgradesOlderKernels() {
        #expect(BLASKernels.upgrade(detected: "Prescott", best: "Cooperlake", userChoice: nil) == "Cooperlake")
        #expect(BLASKernels.upgrade(detected: "Sandybridge", best: "Haswell", userChoice: nil) == "Haswell")
        #expect(BLASKernels.upgrade(detected: "SkylakeX", best: "Cooperlake", userChoice: "") == "Cooperlake")
    }

    @Test("Kernels as good as the CPU's, unknown names and the user's OPENBLAS_CORETYPE are kept")
    func keepsOtherwise() {
        #expect(BLASKernels.upgrade(detected: "Zen", best: "Haswell", userChoice: nil) == nil)
        #expect(BLASKernels.upgrade(detected: "Cooperlake", best: "SkylakeX", userChoice: nil) == nil)
        #expect(BLASKernels.upgrade(detected: "Prescott", best: nil, userChoice: nil) == nil)
        #expect(BLASKernels.upgrade(detected: "Prescott", best: "Cooperlake", userChoice: "Prescott") == nil)
        #expect(BLASKernels.upgrade(detected: "ThunderX9", best: "Haswell", userChoice: nil) == nil)
        #expect(BLASKernels.upgrade(detected: "Prescott", best: "SomethingNew", userChoice: nil) == nil)
    }

    @Test("This process runs kernels at least as new as this CPU supports, and sgemm stays exact")
    func thisProcess() throws {
        let k = BLASKernels.current
        // OPENBLAS_CORETYPE is the user's unless the switch at load time set it.
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil || k.active != k.detected,
           let best = adallava_cpu_blas_core().map({ String(cString: $0) }),
           k.detected != "unknown" {
            #expect(BLASKernels.upgrade(detected: k.active, best: best, userChoice: nil) == nil,
                    "OpenBLAS runs \(k.active) on a CPU that supports \(best)")
        }
        #expect(BLAS.configuration.contains(k.active))
        #expect((k.note != nil) == (k.active != k.detected))
        // Small integers: every product and sum is exact in fp32, whatever the kernels' order.
        let m = 37, n = 53, kk = 71
        let a = (0..<m * kk).map { Float($0 % 7) - 3 }, b = (0..<n * kk).map { Float($0 % 5) - 2 }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: kk, a: a, b: b, transposeB: true, c: &c)
        var wrong = 0
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<kk { s += a[i * kk + p] * b[j * kk + p] }
                if c[i * n + j] != s { wrong += 1 }
            }
        }
        #expect(wrong == 0)
    }
}
