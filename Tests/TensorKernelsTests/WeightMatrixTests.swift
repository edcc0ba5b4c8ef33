import Testing
@testable import TensorKernels

/// Shapes whose widths are odd, below one SIMD step, and not whole Q8_0 blocks; output widths
/// around the GEMVs' rows per pass (8 for bf16, 4 for Q8_0) and input widths around their
/// column steps (16 and 32), so the leftover-row and leftover-column paths run.
let weightShapes: [(tokens: Int, inF: Int, outF: Int)] = [(1, 1, 1), (1, 17, 5), (1, 300, 77), (1, 96, 3), (3, 7, 33), (13, 64, 19), (37, 129, 70),
                                                          (1, 16, 8), (1, 15, 7), (1, 33, 6), (1, 47, 13), (1, 4111, 29), (1, 5000, 17), (2, 4111, 9)]

@Suite("bf16 and Q8_0 weights agree with their scalar references")
struct WeightMatrixTests {
    @Test("bf16 storage rounds to nearest even exactly like the reference, specials included")
    func bf16RoundingMatchesReference() {
        let specials: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                                 Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001)]
        let values = specials + randomTensor([1, 997], seed: 21, scale: 1e3).storage
        let w = Tensor(shape: [1, values.count], storage: values)
        let stored = WeightMatrix(w, as: .bf16).dequantized()
        #expect(stored.storage.map(\.bitPattern) == Reference.stored(w, as: .bf16).storage.map(\.bitPattern))
        let nan = WeightMatrix(Tensor(shape: [1, 1], storage: [.nan]), as: .bf16).dequantized()
        #expect(nan.storage[0].isNaN)
    }

    @Test("Q8_0 storage is within one quantization step of the reference", arguments: [1, 31, 32, 33, 100])
    func q8RoundTripMatchesReference(cols: Int) {
        let w = randomTensor([5, cols], seed: 22, scale: 0.1)
        let stored = WeightMatrix(w, as: .q8_0)
        #expect(stored.storedBytes == 5 * ((cols + 31) / 32) * 36)
        let got = stored.dequantized(), want = Reference.stored(w, as: .q8_0)
        // A tie can round either way between the two ways of dividing by the scale.
        #expect(maxAbsDiff(got, want) <= 0.1 / 127 * 1.0001)
        #expect(maxAbsDiff(got, w) <= 0.1 / 127 / 2 * 1.0001)
    }

    @Test("linear on bf16 and Q8_0 weights matches the scalar loop on the stored values, decode and prefill",
          arguments: weightShapes, [WeightDType.bf16, .q8_0])
    func linearMatchesReference(shape: (tokens: Int, inF: Int, outF: Int), dtype: WeightDType) {
        forEachPrefillPath(dtype) {
            let x = randomTensor([shape.tokens, shape.inF], seed: 23)
            let w = WeightMatrix(randomTensor([shape.outF, shape.inF], seed: 24), as: dtype)
            let b = randomTensor([shape.outF], seed: 25)
            let exact = w.dequantized(), xr = activations(x, dtype)
            #expect(maxAbsDiff(linear(x, weight: w), Reference.linear(xr, weight: exact, bias: nil)) < 1e-4)
            #expect(maxAbsDiff(linear(x, weight: w, bias: b), Reference.linear(xr, weight: exact, bias: b)) < 1e-4)
        }
    }

    @Test("row- and column-restricted linears on narrow weights match the fp32 ones on the same values",
          arguments: [1, 6], [WeightDType.bf16, .q8_0])
    func slicedLinearsMatchFP32(tokens: Int, dtype: WeightDType) {
        forEachPrefillPath(dtype) {
            let w = WeightMatrix(randomTensor([70, 160], seed: 26), as: dtype), exact = w.dequantized()
            let rows = [3..<10, 40..<70], columns = [0..<32, 64..<96, 101..<160]   // the last one mid-block
            let xr = randomTensor([tokens, 160], seed: 27), xc = randomTensor([tokens, 32 + 32 + 59], seed: 28)
            let bias = randomTensor([70], seed: 29)
            // Decode on Q8_0 quantizes x per call, i.e. per column range (the mid-block range
            // 101..<160 takes the fp32 path).
            let xq = tokens == 1 && dtype == .q8_0
            let xrq = activations(xr, dtype)
            let xcq = xq ? concatenated([activations(slice(xc, 0..<32), dtype), activations(slice(xc, 32..<64), dtype), slice(xc, 64..<123)]) : activations(xc, dtype)
            #expect(maxAbsDiff(linear(xr, weight: w, rows: rows, bias: bias), linear(xrq, weight: exact, rows: rows, bias: bias)) < 1e-4)
            #expect(maxAbsDiff(linear(xc, weight: w, columns: columns), linear(xcq, weight: exact, columns: columns)) < 1e-4)
            // Copies of the selected parts compute the same.
            let rowCopy = w.selectingRows(rows), columnCopy = w.selectingColumns([0..<32, 64..<96])
            #expect(rowCopy.dtype == dtype && columnCopy.dtype == dtype)
            let xs = randomTensor([tokens, 64], seed: 30)
            #expect(maxAbsDiff(linear(xr, weight: rowCopy), linear(xrq, weight: exact, rows: rows)) < 1e-4)
            #expect(maxAbsDiff(linear(xs, weight: columnCopy), linear(activations(xs, dtype), weight: exact, columns: [0..<32, 64..<96])) < 1e-4)
        }
    }

    @Test("Q8_0 decode is Q8_0 × Q8_0: x quantized in blocks of 32, within its rounding of fp32 x",
          arguments: [(1, 31, 5), (1, 4111, 29), (1, 64, 9), (1, 4096, 67)])
    func q8DecodeQuantizesActivations(shape: (tokens: Int, inF: Int, outF: Int)) {
        let x = randomTensor([1, shape.inF], seed: 34), w = WeightMatrix(randomTensor([shape.outF, shape.inF], seed: 35), as: .q8_0)
        let exact = w.dequantized()
        let got = linear(x, weight: w)
        #expect(maxAbsDiff(got, Reference.linear(Reference.stored(x, as: .q8_0), weight: exact, bias: nil)) < 1e-4)
        // Not the fp32-activation result (the activations really are rounded) but near it.
        let fp32x = Reference.linear(x, weight: exact, bias: nil)
        #expect(maxAbsDiff(got, fp32x) > 1e-6)
        #expect(maxAbsDiff(got, fp32x) < 0.02 * Float(shape.inF).squareRoot())
    }

    @Test("a prefill wider than one scratch panel matches the one-panel result")
    func multiplePanels() {
        // Panels hold 16M floats: 40 000 columns → 419 rows a panel, so 450 rows take two.
        let w = WeightMatrix(randomTensor([450, 40_000], seed: 31, scale: 0.05), as: .bf16)
        let x = randomTensor([2, 40_000], seed: 32)
        let exact = w.dequantized()
        forEachPrefillPath(.bf16) { #expect(maxAbsDiff(linear(x, weight: w), linear(activations(x, .bf16), weight: exact)) < 1e-3) }
    }

    @Test("stored bytes per dtype: 4, 2 and 36/32 per weight")
    func storedBytes() {
        let t = randomTensor([4, 64], seed: 33)
        #expect(WeightMatrix(t).storedBytes == 4 * 256)
        #expect(WeightMatrix(t, as: .bf16).storedBytes == 2 * 256)
        #expect(WeightMatrix(t, as: .q8_0).storedBytes == 256 + 8 * 4)
        #expect(WeightDType.q8_0.bytesPerWeight == 1.125)
    }
}

/// What a linear on `dtype` weights multiplies `x` by: Q8_0 decode (one token) quantizes x in
/// blocks of 32 first; everything else uses x as it is.
private func activations(_ x: Tensor, _ dtype: WeightDType) -> Tensor {
    if x.rows == 1 && dtype == .q8_0 { return Reference.stored(x, as: .q8_0) }
    if x.rows > 1 && dtype == .bf16 && PrefillKernel.current == .amx { return Reference.stored(x, as: .bf16) }
    return x
}

/// Runs `body` once per prefill path for `dtype`, that path in force for this task: for bf16
/// both where this CPU has AMX (`activations` models its rounding of x), for Q8_0 the widening
/// one (AMX also rounds Q8_0 weights to bf16: `AMXGemmTests` checks that path).
private func forEachPrefillPath(_ dtype: WeightDType, _ body: () -> Void) {
    let paths: [PrefillKernel] = dtype == .bf16 && PrefillKernel.amxAvailable ? [.widen, .amx] : [.widen]
    for path in paths { PrefillKernel.$override.withValue(path) { body() } }
}

/// Columns `range` of a `[tokens, width]` tensor.
private func slice(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    var out: [Float] = []
    for t in 0..<x.rows { out.append(contentsOf: x.storage[(t * x.lastDim + range.lowerBound)..<(t * x.lastDim + range.upperBound)]) }
    return Tensor(shape: [x.rows, range.count], storage: out)
}

/// `[tokens, a] ++ [tokens, b] ++ …` along the last dimension.
private func concatenated(_ parts: [Tensor]) -> Tensor {
    var out: [Float] = []
    for t in 0..<parts[0].rows {
        for p in parts { out.append(contentsOf: p.storage[(t * p.lastDim)..<((t + 1) * p.lastDim)]) }
    }
    return Tensor(shape: [parts[0].rows, parts.reduce(0) { $0 + $1.lastDim }], storage: out)
}
