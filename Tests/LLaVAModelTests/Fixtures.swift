import Foundation
import TensorKernels

/// Paths of the committed golden fixtures (made by `scripts/make_golden.py`).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `Tests/Fixtures/<name>` as a path string.
    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
}

/// Two engine runs' logits agree to within OpenBLAS's rounding (relative 1e-5; the
/// differences seen are ~1e-7), tensors of the same shape.
///
/// Not bit-for-bit: OpenBLAS 0.3.21's sgemm rounds some shapes differently on 1 and 2 threads
/// (e.g. 24×128×128), and its thread count is process-wide. Tests running at the same time
/// change it (`BLAS.setThreads`, and every `BLAS.singleThreaded` attention section), so two
/// runs in one test can see different counts; CI once failed "R = 1 changes nothing" on a
/// 1.4e-7 difference. A run alone is deterministic at a fixed count (`adallava run` with
/// `--threads 1` or `2` gives identical logits for FastV R = 1 and the plain engine).
func sameLogits(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && zip(a.storage, b.storage).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }
}
