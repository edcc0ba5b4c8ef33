import CWeightKernels
import Testing
@testable import TensorKernels

/// The AMX bf16 GEMM (`amxGemm`, `wk_amx_bf16_gemm`) against a scalar reference in Double on
/// the same bf16-rounded inputs, at shapes that leave partial tiles in every dimension (and a
/// k over 4096, which the kernel multiplies in two stretches).
@Suite("AMX bf16 and Q8_0 GEMMs match scalar references", .enabled(if: PrefillKernel.amxAvailable, "this CPU has no AMX-BF16"))
struct AMXGemmTests {
    static func bf16(_ f: Float) -> UInt16 {
        var out: UInt16 = 0
        var v = f
        wk_f32_to_bf16(&v, &out, 1)
        return out
    }

    static func float(_ h: UInt16) -> Double { Double(Float(bitPattern: UInt32(h) << 16)) }

    /// (tokens, output rows n, inner k, extra leading-dimension columns, beta)
    static let shapes: [(Int, Int, Int, Int, Float)] = [
        (37, 45, 71, 0, 0), (1, 7, 5, 3, 0), (33, 64, 64, 0, 0.5), (16, 32, 32, 5, 1), (64, 97, 4096, 0, 0), (20, 40, 4500, 1, 0.5),
    ]

    @Test("c = beta·c + bf16(x)·Wᵀ, partial tiles, strided x and c", arguments: shapes)
    func matches(shape: (Int, Int, Int, Int, Float)) {
        let (m, n, k, pad, beta) = shape
        var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + k))
        let lda = k + pad, ldc = n + pad
        let x = (0..<m * lda).map { _ in Float(rng.unit() * 2 - 1) }
        let w = (0..<n * k).map { _ in Self.bf16(Float(rng.unit() * 2 - 1)) }
        let c0 = (0..<m * ldc).map { _ in Float(rng.unit() * 2 - 1) }
        var c = c0
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                c.withUnsafeMutableBufferPointer { cp in
                    let ws = UncheckedSendable(wp.baseAddress!), cs = UncheckedSendable(cp.baseAddress!)
                    amxGemm(tokens: m, x: xp.baseAddress!, lda: lda, n: n, k: k, panels: wk_amx_panels_size) { a, kpad, part, panels in
                        wk_amx_bf16_gemm(a, m, kpad, ws.value + part.lowerBound * k, k, part.count, k,
                                         cs.value + part.lowerBound, ldc, beta, panels)
                    }
                }
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, size = 0.0
                for l in 0..<k {
                    let t = Self.float(Self.bf16(x[i * lda + l])) * Self.float(w[j * k + l])
                    s += t
                    size += abs(t)
                }
                let want = Double(beta) * Double(c0[i * ldc + j]) + s
                worst = max(worst, abs(Double(c[i * ldc + j]) - want) / (size + abs(Double(beta * c0[i * ldc + j])) + 1e-30))
            }
            // Columns past n belong to someone else: untouched.
            for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) }
        }
        #expect(worst < 1e-5, "relative error \(worst)")
    }

    @Test("Q8_0 prefill on AMX is bf16(x) · bf16(q · scale)ᵀ, whole and restricted to rows or block-aligned columns",
          arguments: [(37, 129, 70), (64, 4500, 40), (2, 64, 33)])
    func q8(shape: (tokens: Int, inF: Int, outF: Int)) {
        PrefillKernel.$override.withValue(.amx) {
            let x = randomTensor([shape.tokens, shape.inF], seed: 41)
            let w = WeightMatrix(randomTensor([shape.outF, shape.inF], seed: 42), as: .q8_0)
            let exact = w.dequantized(), widened = Reference.stored(exact, as: .bf16), xb = Reference.stored(x, as: .bf16)
            let bound = 1e-4 * Float(shape.inF).squareRoot()
            let got = linear(x, weight: w)
            #expect(maxAbsDiff(got, Reference.linear(xb, weight: widened, bias: nil)) < bound)
            #expect(maxAbsDiff(got, Reference.linear(x, weight: exact, bias: nil)) > 1e-6)   // really rounded
            let rows = [1..<3, 5..<shape.outF], columns = [0..<32, 64..<shape.inF]
            #expect(maxAbsDiff(linear(x, weight: w, rows: rows), linear(xb, weight: widened, rows: rows)) < bound)
            let xc = randomTensor([shape.tokens, 32 + shape.inF - 64], seed: 43)
            #expect(maxAbsDiff(linear(xc, weight: w, columns: columns),
                               linear(Reference.stored(xc, as: .bf16), weight: widened, columns: columns)) < bound)
        }
    }
}
