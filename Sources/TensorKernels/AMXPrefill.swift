import CWeightKernels
import Foundation

/// `C[tokens, n] = bf16(x[tokens, k]) · W[n, k]ᵀ + beta · C` on AMX tiles: x rounded to bf16
/// once into scratch (`wk_amx_pack_a`), then the weight rows split across `BLAS.threads`
/// workers in 32-row steps; `multiply(a, kpad, rows, panels)` runs one worker's rows (a
/// `wk_amx_*_gemm` call), with `panels(kpad)` bf16 values of scratch.
func amxGemm(tokens: Int, x: UnsafePointer<Float>, lda: Int, n: Int, k: Int, panels: (Int) -> Int,
             _ multiply: (UnsafePointer<UInt16>, Int, Range<Int>, UnsafeMutablePointer<UInt16>) -> Void) {
    let kpad = (k + 31) / 32 * 32, mpad = (tokens + 31) / 32 * 32
    let aCount = mpad * kpad, panelCount = panels(kpad)
    // [mpad, kpad] bf16 activations (a float holds two), shared by every worker.
    Scratch.shared.withBuffer(count: (aCount + 1) / 2) { buffer in
        buffer.withMemoryRebound(to: UInt16.self, capacity: aCount) { a in
            let xs = UncheckedSendable(x), am = UncheckedSendable(a)
            parallelChunks(tokens, minimumPerWorker: 16) { part in
                wk_amx_pack_a(xs.value, lda, part.lowerBound, part.upperBound, k, am.value, kpad)
            }
            wk_amx_zero_rows(a, tokens, mpad, kpad)
            balancedChunks(n, minimumPerChunk: 32, alignment: 32) { part in
                // Each running chunk packs its groups of 32-row weight panels into scratch of its own.
                Scratch.shared.withBuffer(count: (panelCount + 1) / 2) { panel in
                    panel.withMemoryRebound(to: UInt16.self, capacity: panelCount) { p in
                        multiply(UnsafePointer(am.value), kpad, part, p)
                    }
                }
            }
        }
    }
}

/// How prefill (more than one token) multiplies by bf16 and Q8_0 weights. fp32 weights
/// always go to OpenBLAS sgemm.
public enum PrefillKernel: String, Sendable, CaseIterable {
    /// Widen weight panels to fp32 and run OpenBLAS sgemm: the activations stay fp32, so a
    /// checkpoint stored in BF16 gives the fp32 engine's result.
    case widen
    /// AMX tiles (`wk_amx_bf16_gemm`, `wk_amx_q8_0_gemm`): activations rounded to bf16, Q8_0
    /// weights widened to bf16(q · scale), fp32 accumulation; several times sgemm's rate where
    /// the CPU has AMX (Intel Sapphire Rapids and later).
    case amx

    /// What runs now: `override` if a caller set one, else `automatic`.
    public static var current: PrefillKernel { override ?? automatic }

    /// `amx` where the CPU and OS support it, unless `ADALLAVA_PREFILL_KERNEL` says otherwise.
    public static let automatic: PrefillKernel = environment.kernel ?? (amxAvailable ? .amx : .widen)

    /// Why `ADALLAVA_PREFILL_KERNEL` cannot be honoured (not `widen`, `amx` or `auto`, or `amx`
    /// on a machine without it), or nil when it is unset or fine.
    public static var environmentProblem: String? { environment.problem }

    /// `ADALLAVA_PREFILL_KERNEL`, read once: the kernel it asks for (nil: unset, `auto`, or not
    /// honoured), and why it is not honoured.
    private static let environment: (kernel: PrefillKernel?, problem: String?) = {
        guard let value = ProcessInfo.processInfo.environment["ADALLAVA_PREFILL_KERNEL"], !value.isEmpty, value != "auto"
        else { return (nil, nil) }
        switch PrefillKernel(rawValue: value) {
        case .widen: return (.widen, nil)
        case .amx where amxAvailable: return (.amx, nil)
        case .amx: return (nil, "ADALLAVA_PREFILL_KERNEL=amx, but this CPU or OS cannot run AMX-BF16 tiles (unset it, or say widen)")
        case nil: return (nil, "ADALLAVA_PREFILL_KERNEL='\(value)' is not one of widen, amx, auto")
        }
    }()

    /// Whether this machine can run `amx`.
    public static var amxAvailable: Bool { wk_amx_bf16_available() == 1 }

    /// A choice for the current task (`$override.withValue(.widen) { … }`), read where a GEMM
    /// starts (the caller's thread), so tests running at once do not change each other's path.
    @TaskLocal public static var override: PrefillKernel?
}
