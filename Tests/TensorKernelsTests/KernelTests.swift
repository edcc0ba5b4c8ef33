import Testing
@testable import TensorKernels

/// Deterministic uniform values in [-scale, scale] (SplitMix64), so failures reproduce.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    for i in 0..<n {
        values[i] = (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    return Tensor(shape: shape, storage: values)
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    return zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
}

/// Awkward sizes: 1, odd, and wider than a cache line.
let awkwardShapes: [(rows: Int, inF: Int, outF: Int)] = [(1, 1, 1), (1, 17, 5), (1, 300, 77), (3, 7, 33), (13, 64, 19), (37, 129, 70)]

@Suite("fast kernels agree with their scalar references")
struct KernelTests {
    @Test("linear through cblas_sgemm matches the scalar loop, with and without bias", arguments: awkwardShapes)
    func linearMatchesReference(shape: (rows: Int, inF: Int, outF: Int)) {
        let x = randomTensor([shape.rows, shape.inF], seed: 1)
        let w = randomTensor([shape.outF, shape.inF], seed: 2)
        let b = randomTensor([shape.outF], seed: 3)
        #expect(maxAbsDiff(linear(x, weight: w), Reference.linear(x, weight: w, bias: nil)) < 1e-4)
        #expect(maxAbsDiff(linear(x, weight: w, bias: b), Reference.linear(x, weight: w, bias: b)) < 1e-4)
    }

    /// The fp32 decode GEMV (`wk_f32_gemv` on `balancedChunks`): row counts below, at and past
    /// the eight-row bands, widths with a tail past the last 8 columns, a strided `lda` (a
    /// column slice of W) and beta = 1, on one and two threads.
    @Test("gemvF32 matches the scalar dot products", arguments: [(1, 1), (7, 9), (8, 16), (67, 300), (1000, 131), (96, 4100)])
    func gemvF32Matches(shape: (m: Int, n: Int)) {
        let (m, n) = shape, lda = n + 3
        let a = randomTensor([m, lda], seed: 40), x = randomTensor([n], seed: 41), y0 = randomTensor([m], seed: 42)
        var expected = [Float](repeating: 0, count: m)
        for i in 0..<m {
            var s: Double = 0
            for j in 0..<n { s += Double(a.storage[i * lda + j]) * Double(x.storage[j]) }
            expected[i] = Float(s) + y0.storage[i]
        }
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            var y = y0.storage
            a.storage.withUnsafeBufferPointer { ap in
                x.storage.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        gemvF32(m: m, n: n, a: ap.baseAddress!, lda: lda, x: xp.baseAddress!, y: yp.baseAddress!, beta: 1)
                    }
                }
            }
            let err = zip(y, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(err < 1e-4 * Float(max(1, n / 64)), "m \(m) n \(n) threads \(threads): max error \(err)")
        }
    }

    @Test("linear keeps leading dimensions of a 3-D input")
    func linearKeepsLeadingDimensions() {
        let x = randomTensor([2, 3, 8], seed: 4)
        let w = randomTensor([5, 8], seed: 5)
        #expect(linear(x, weight: w).shape == [2, 3, 5])
    }

    @Test("RMSNorm matches the reference", arguments: [1, 7, 64, 257])
    func rmsNormMatches(dim: Int) {
        let x = randomTensor([5, dim], seed: 6, scale: 3)
        let w = randomTensor([dim], seed: 7)
        #expect(maxAbsDiff(rmsNorm(x, weight: w, eps: 1e-6), Reference.rmsNorm(x, weight: w, eps: 1e-6)) < 1e-5)
    }

    @Test("LayerNorm matches the reference", arguments: [1, 7, 64, 257])
    func layerNormMatches(dim: Int) {
        let x = randomTensor([5, dim], seed: 8, scale: 3)
        let w = randomTensor([dim], seed: 9), b = randomTensor([dim], seed: 10)
        #expect(maxAbsDiff(layerNorm(x, weight: w, bias: b, eps: 1e-5), Reference.layerNorm(x, weight: w, bias: b, eps: 1e-5)) < 1e-4)
    }

    @Test("softmax matches the reference and sums to one, even with large logits", arguments: [1, 3, 100, 1000])
    func softmaxMatches(n: Int) {
        let x = randomTensor([4, n], seed: 11, scale: 80)
        let y = softmax(x)
        #expect(maxAbsDiff(y, Reference.softmax(x)) < 1e-5)
        for r in 0..<4 { #expect(abs(y.row(r).reduce(0, +) - 1) < 1e-4) }
    }

    @Test("every activation matches its reference", arguments: Activation.allCases)
    func activationMatches(a: Activation) {
        let x = randomTensor([3, 101], seed: 12, scale: 6)
        #expect(maxAbsDiff(a(x), Reference.activation(a, x)) < 1e-5)
    }

    @Test("Hugging Face activation names map to the engine's activations")
    func activationNames() {
        #expect(Activation(huggingFaceName: "quick_gelu") == .quickGelu)
        #expect(Activation(huggingFaceName: "gelu") == .gelu)
        #expect(Activation(huggingFaceName: "gelu_pytorch_tanh") == .geluTanh)
        #expect(Activation(huggingFaceName: "silu") == .silu)
        #expect(Activation(huggingFaceName: "mish") == nil)
    }

    @Test("RoPE matches the reference at far positions and for several thetas", arguments: [10_000.0, 500_000.0])
    func ropeMatches(theta: Double) {
        let heads = 3, headDim = 16
        var x = randomTensor([4, heads * headDim], seed: 13)
        let positions = [0, 1, 57, 599]
        let expected = Reference.rope(x, heads: heads, headDim: headDim, positions: positions, theta: theta)
        RotaryEmbedding(headDim: headDim, theta: theta).apply(&x, heads: heads, positions: positions)
        #expect(maxAbsDiff(x, expected) < 2e-4)
    }

    @Test("causal attention over a KV cache matches the reference, prefill then decode, with GQA",
          arguments: [(heads: 4, kvHeads: 4), (heads: 4, kvHeads: 2), (heads: 6, kvHeads: 1)])
    func causalAttentionMatches(config: (heads: Int, kvHeads: Int)) {
        let headDim = 8, kvWidth = config.kvHeads * headDim
        var cache = KVCache(kvHeads: config.kvHeads, headDim: headDim, capacity: 16)
        // Prefill 5 tokens, then decode 2 single tokens; compare each step with the reference
        // over every key seen so far.
        var allK = Tensor(zeros: [0, kvWidth]), allV = allK
        for (step, tokens) in [5, 1, 1].enumerated() {
            let q = randomTensor([tokens, config.heads * headDim], seed: 20 + UInt64(step))
            let k = randomTensor([tokens, kvWidth], seed: 30 + UInt64(step))
            let v = randomTensor([tokens, kvWidth], seed: 40 + UInt64(step))
            cache.append(keys: k, values: v)
            allK = Tensor(shape: [allK.rows + tokens, kvWidth], storage: allK.storage + k.storage)
            allV = Tensor(shape: [allV.rows + tokens, kvWidth], storage: allV.storage + v.storage)
            let fast = causalAttention(q: q, cache: cache, heads: config.heads)
            let ref = Reference.attention(q: q, k: allK, v: allV, heads: config.heads, kvHeads: config.kvHeads,
                                          headDim: headDim, causalOffset: cache.length - tokens)
            #expect(maxAbsDiff(fast, ref) < 1e-5)
        }
    }

    @Test("bidirectional attention (vision) matches the reference")
    func fullAttentionMatches() {
        let q = randomTensor([9, 32], seed: 50), k = randomTensor([9, 32], seed: 51), v = randomTensor([9, 32], seed: 52)
        let fast = k.storage.withUnsafeBufferPointer { kp in
            v.storage.withUnsafeBufferPointer { vp in
                attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: 32, context: 9,
                          heads: 4, kvHeads: 4, headDim: 8, causalOffset: nil)
            }
        }
        #expect(maxAbsDiff(fast, Reference.attention(q: q, k: k, v: v, heads: 4, kvHeads: 4, headDim: 8, causalOffset: nil)) < 1e-5)
    }

    // Tests run concurrently in one process and OpenBLAS's thread count is process-wide, so
    // these check only what no other test can change underneath them.
    @Test("OpenBLAS thread count is settable; single-threaded sections nest and restore")
    func blasThreads() {
        BLAS.setThreads(2)
        #expect(BLAS.threads >= 1)
        BLAS.singleThreaded {
            BLAS.singleThreaded { #expect(BLAS.activeThreads == 1) }
            #expect(BLAS.activeThreads == 1)   // the outer section is still open
            BLAS.setThreads(2)                 // deferred until the section closes
            #expect(BLAS.activeThreads == 1)
        }
        #expect(BLAS.configuration.contains("OpenBLAS"))
    }
}

@Suite("sliced linears on strided sub-blocks agree with gathering the weights")
struct SlicedLinearTests {
    static let cases: [[Range<Int>]] = [[0..<33], [0..<5, 9..<20], [3..<4, 10..<11, 30..<33], [0..<0, 7..<12]]

    @Test("only chosen output rows, for many tokens and for one (the GEMV path)", arguments: cases)
    func rowsMatch(rows: [Range<Int>]) {
        for tokens in [7, 1] {
            let x = randomTensor([tokens, 19], seed: 60), w = randomTensor([33, 19], seed: 61)
            #expect(maxAbsDiff(linear(x, weight: w, rows: rows), Reference.linear(x, weight: w, rows: rows)) < 1e-4)
        }
    }

    @Test("only chosen input columns, for many tokens and for one (the GEMV path)", arguments: cases)
    func columnsMatch(columns: [Range<Int>]) {
        let width = columns.reduce(0) { $0 + $1.count }
        for tokens in [5, 1] {
            let x = randomTensor([tokens, width], seed: 62), w = randomTensor([11, 33], seed: 63)
            #expect(maxAbsDiff(linear(x, weight: w, columns: columns), Reference.linear(x, weight: w, columns: columns)) < 1e-4)
        }
    }
}

@Suite("attention's parallel, blocked path agrees with the reference", .serialized)
struct BlockedAttentionTests {
    @Test("prefill over several 128-row query blocks on 2 threads, with GQA, past context and a probe",
          arguments: [(tokens: 260, past: 0), (tokens: 150, past: 37)])
    func blockedCausal(shape: (tokens: Int, past: Int)) {
        BLAS.setThreads(2)
        defer { BLAS.setThreads(2) }
        let heads = 4, kvHeads = 2, d = 8, context = shape.tokens + shape.past
        let q = randomTensor([shape.tokens, heads * d], seed: 70)
        let k = randomTensor([context, kvHeads * d], seed: 71), v = randomTensor([context, kvHeads * d], seed: 72)
        let probe = AttentionProbe(row: shape.tokens - 1, context: context)
        let fast = k.storage.withUnsafeBufferPointer { kp in
            v.storage.withUnsafeBufferPointer { vp in
                attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: kvHeads * d, context: context,
                          heads: heads, kvHeads: kvHeads, headDim: d, causalOffset: shape.past, probe: probe)
            }
        }
        let ref = Reference.attention(q: q, k: k, v: v, heads: heads, kvHeads: kvHeads, headDim: d, causalOffset: shape.past)
        #expect(maxAbsDiff(fast, ref) < 1e-5)
        let mass = probe.meanOverHeads.reduce(0, +)
        #expect(abs(mass - 1) < 1e-4)   // the last row sees every key; its mean attention sums to one
    }

    @Test("one decode query, four positions per pass: split across 2 threads at a long context and serial at a short one, GQA, strided cache, probe",
          arguments: [(context: 600, heads: 6, kvHeads: 3, d: 128), (context: 9, heads: 4, kvHeads: 1, d: 20),
                       // positions go four at a time: three left over, and a head width past the 8-wide body
                       (context: 1027, heads: 4, kvHeads: 2, d: 68)])
    func decodeQuery(shape: (context: Int, heads: Int, kvHeads: Int, d: Int)) {
        BLAS.setThreads(2)
        defer { BLAS.setThreads(2) }
        let (context, heads, kvHeads, d) = shape
        let stride = kvHeads * d + 8   // a cache row wider than the heads read
        let q = randomTensor([1, heads * d], seed: 73)
        let kWide = randomTensor([context, stride], seed: 74), vWide = randomTensor([context, stride], seed: 75)
        func dense(_ t: Tensor) -> Tensor {
            var out: [Float] = []
            for r in 0..<context { out.append(contentsOf: t.storage[(r * stride)..<(r * stride + kvHeads * d)]) }
            return Tensor(shape: [context, kvHeads * d], storage: out)
        }
        let probe = AttentionProbe(row: 0, context: context)
        let fast = kWide.storage.withUnsafeBufferPointer { kp in
            vWide.storage.withUnsafeBufferPointer { vp in
                attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: stride, context: context,
                          heads: heads, kvHeads: kvHeads, headDim: d, causalOffset: context - 1, probe: probe)
            }
        }
        let ref = Reference.attention(q: q, k: dense(kWide), v: dense(vWide), heads: heads, kvHeads: kvHeads, headDim: d,
                                      causalOffset: context - 1)
        #expect(maxAbsDiff(fast, ref) < 1e-5)
        #expect(abs(probe.meanOverHeads.reduce(0, +) - 1) < 1e-4)
    }
}
