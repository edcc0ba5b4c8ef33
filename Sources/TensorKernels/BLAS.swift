import CGSL
import Synchronization

/// OpenBLAS entry points the engine uses, behind one small namespace.
///
/// `cblas_sgemm` is declared by GSL's `gsl_cblas.h` (see `CGSL/shim.h`) and resolves to
/// OpenBLAS at link time, so every GEMM in the engine runs OpenBLAS's tuned kernels.
public enum BLAS {
    /// The thread count callers asked for, and how many single-threaded sections are open.
    /// Kept on the Swift side because OpenBLAS has one process-wide setting: sections that run
    /// small GEMMs on several of our own threads (attention heads) drop it to 1 and must put
    /// back what was asked for, not whatever another caller's section left there.
    private static let state = Mutex<(requested: Int, sections: Int)>((Int(openblas_get_num_threads()), 0))

    /// Sets the number of OpenBLAS worker threads for every following call (process-wide).
    /// Inside a `singleThreaded` section the new count takes effect when the section closes.
    public static func setThreads(_ n: Int) {
        state.withLock { s in
            s.requested = max(1, n)
            if s.sections == 0 { openblas_set_num_threads(Int32(s.requested)) }
        }
    }

    /// The number of threads asked for with `setThreads`: what the engine parallelises over.
    public static var threads: Int { state.withLock { $0.requested } }

    /// The number of threads OpenBLAS itself will use for the next call (1 inside a section).
    public static var activeThreads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS single-threaded, for callers that issue GEMMs from several
    /// threads of their own at once. Sections may nest and overlap across threads; the last
    /// one to close restores the requested count.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { s in
            if s.sections == 0 { openblas_set_num_threads(1) }
            s.sections += 1
        }
        defer {
            state.withLock { s in
                s.sections -= 1
                if s.sections == 0 { openblas_set_num_threads(Int32(s.requested)) }
            }
        }
        return try body()
    }

    /// OpenBLAS's build description, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`.
    public static var configuration: String {
        guard let c = openblas_get_config() else { return "OpenBLAS (unknown configuration)" }
        return String(cString: c)
    }

    /// `y[m] = A[m,n] · x[n] + beta · y`, row-major with leading dimension `lda` (≥ n): the
    /// decode path, which must stream each weight once (OpenBLAS 0.3.21's sgemm with one row
    /// would pack the whole weight matrix first, reading it twice).
    @inline(__always)
    public static func sgemv(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int? = nil,
                             x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda ?? n), x, 1, beta, y, 1)
    }

    /// `y[n] = A[m,n]ᵀ · x[m] + beta · y`, row-major with leading dimension `lda` (≥ n).
    @inline(__always)
    public static func sgemvTransposed(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int? = nil,
                                       x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), 1, a, Int32(lda ?? n), x, 1, beta, y, 1)
    }

    /// `C[m,n] = alpha · A[m,k] · op(B) + beta · C`, row-major, where `op(B)` is `B[k,n]` or,
    /// with `transposeB`, the transpose of `B[n,k]` (the layout of a PyTorch `Linear` weight).
    /// Leading dimensions default to the dense ones and may be larger for strided views.
    @inline(__always)
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda ?? k),
            b, Int32(ldb ?? (transposeB ? k : n)), beta,
            c, Int32(ldc ?? n))
    }
}
