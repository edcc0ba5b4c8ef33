import Foundation
import Testing
@testable import AdaptiveInference
import TensorKernels

/// FastV and PruMerge(+) against hand-computed cases and numbers from a numpy translation of the
/// reference code (`42Shawn/LLaVA-PruMerge` `clip_encoder.py`, `pkunlp-icler/FastV`
/// `modeling_llama.py`); the script is reproduced in `pruMergeMatchesNumpyReference`.
@Suite struct TokenSelectionAlgorithmTests {

    // MARK: FastV

    @Test func fastVKeepsTopCeilInOriginalOrder() {
        let s: [Float] = [0.1, 0.5, 0.3, 0.9, 0.2]
        #expect(FastV.keptIndices(scores: s, keepRatio: 0.4) == [1, 3])        // ceil(2.0) = 2
        #expect(FastV.keptIndices(scores: s, keepRatio: 0.5) == [1, 2, 3])     // ceil(2.5) = 3
        #expect(FastV.keptIndices(scores: s, keepRatio: 0.01) == [3])          // at least 1
        #expect(FastV.keptIndices(scores: s, keepRatio: 1) == [0, 1, 2, 3, 4])
        #expect(FastV.keptIndices(scores: [], keepRatio: 0.5) == [])
        #expect(FastV.keptIndices(scores: [7], keepRatio: 0.5) == [0])
    }

    @Test func fastVTiesGoToLowerIndex() {
        #expect(FastV.keptIndices(scores: [1, 1, 1, 1], keepRatio: 0.5) == [0, 1])
        #expect(FastV.keptIndices(scores: [0.2, 0.5, 0.5, 0.1, 0.5], keepRatio: 0.4) == [1, 2])
        #expect(FastV.keptIndices(scores: [.nan, 0, .nan, -1], keepRatio: 0.5) == [1, 3])
    }

    @Test func fastVKeepCountRounding() {
        #expect(FastV.keepCount(n: 10, keepRatio: 0.7) == 7)     // 0.7·10 = 7.000000000000001
        #expect(FastV.keepCount(n: 10, keepRatio: 0.3) == 3)
        #expect(FastV.keepCount(n: 576, keepRatio: 0.5) == 288)   // FastV K=2 R=50 %
        #expect(FastV.keepCount(n: 576, keepRatio: 0.125) == 72)  // R = 87.5 % → rank 72
        #expect(FastV.keepCount(n: 576, keepRatio: 0.75) == 432)
        #expect(FastV.keepCount(n: 5, keepRatio: .nan) == 1)
        #expect(FastV.keepCount(n: 5, keepRatio: -1) == 1)
        #expect(FastV.keepCount(n: 5, keepRatio: 3) == 5)
        #expect(FastV.keepCount(n: 0, keepRatio: 0.5) == 0)
    }

    @Test func fastVScoresAverageHeadsOverImageSpan() {
        // 2 heads × 6 key positions, image tokens at 1..<4.
        let att = Tensor(shape: [2, 6], storage: [0.1, 0.2, 0.3, 0.1, 0.2, 0.1,
                                                  0.0, 0.4, 0.1, 0.3, 0.1, 0.1])
        let s = FastV.scores(lastTokenAttention: att, imageRange: 1..<4)
        #expect(s.count == 3)
        for (a, b) in zip(s, [Float(0.3), 0.2, 0.2]) { #expect(abs(a - b) < 1e-6) }
        #expect(FastV.keptIndices(scores: s, keepRatio: 0.5) == [0, 1])
    }

    // MARK: IQR

    @Test func iqrMatchesNumpyPercentile() {
        // np.percentile(float32 array, 25/75) = 0.012250001, 0.019; upper = 0.029124998;
        // outliers [3, 6] (python3 numpy 2.4.6).
        let v: [Float] = [0.01, 0.02, 0.015, 0.3, 0.012, 0.011, 0.25, 0.013, 0.014, 0.016]
        let sorted = v.sorted()
        #expect(PruMerge.quantile(sorted: sorted, 0.25) == Float(0.012250001))
        #expect(PruMerge.quantile(sorted: sorted, 0.75) == Float(0.019))
        #expect(PruMerge.iqrOutliers(v) == [3, 6])
        // Q1 = 2, Q3 = 5, upper 9.5: 100 is an outlier, 9 and −50 are not (no lower bound).
        let w: [Float] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 100, -50]
        #expect(PruMerge.quantile(sorted: w.sorted(), 0.25) == 2)
        #expect(PruMerge.quantile(sorted: w.sorted(), 0.75) == 5)
        #expect(PruMerge.iqrOutliers(w) == [11])
    }

    @Test func iqrDegenerate() {
        #expect(PruMerge.iqrOutliers([]) == [])
        #expect(PruMerge.iqrOutliers([1]) == [])
        #expect(PruMerge.iqrOutliers([2, 2, 2, 2]) == [])
        #expect(PruMerge.iqrOutliers([1, .nan, 3]) == [])
        #expect(PruMerge.iqrOutliers([0, 0, 0, 0, 1]) == [4])   // IQR 0: anything above Q3
    }

    // MARK: PruMerge by hand

    /// Attention [.05 ×5, .75]: Q1 = Q3 = .05, IQR 0, so only patch 5 is an outlier. With
    /// features x_j = [j, 1] and fewer than 32 others, patch 5 absorbs all five others:
    /// x5 + .05·Σ_{j<5} x_j = [5, 1] + [0.5, 0.25]; the extra token is [0.5, 0.25].
    @Test func pruMergeByHand() {
        let attn: [Float] = [0.05, 0.05, 0.05, 0.05, 0.05, 0.75]
        let keys = Tensor(shape: [6, 2], storage: [1, 0, 0, 1, 1, 1, -1, 0, 2, 3, 0.5, -1])
        let x = Tensor(shape: [6, 2], storage: (0..<6).flatMap { [Float($0), 1] })
        let r = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: false)
        #expect(r.indices == [5])
        #expect(r.features.shape == [2, 2])
        expectClose(r.features.storage, [5.5, 1.25, 0.5, 0.25])

        let bare = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: false,
                                   appendPrunedSummary: false)
        #expect(bare.features.shape == [1, 2])
        expectClose(bare.features.storage, [5.5, 1.25])
    }

    /// PruMerge+ on the same input: k = 1 of 6 → step_length int(6) → step int(6/3) = 2 →
    /// arange(0, 5, 2) = [0, 2, 4] added. Each kept patch absorbs the 5 others weighted by
    /// attention; the extra token is .05·(x1 + x3) = [0.2, 0.1].
    @Test func pruMergePlusByHand() {
        let attn: [Float] = [0.05, 0.05, 0.05, 0.05, 0.05, 0.75]
        let keys = Tensor(shape: [6, 2], storage: [1, 0, 0, 1, 1, 1, -1, 0, 2, 3, 0.5, -1])
        let x = Tensor(shape: [6, 2], storage: (0..<6).flatMap { [Float($0), 1] })
        let r = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: true)
        #expect(r.indices == [0, 2, 4, 5])
        // x_t + Σ_{j≠t} a_j x_j, with Σ_all a_j x_j = [0.05·10 + 0.75·5, 0.05·5 + 0.75] = [4.25, 1.0]
        func row(_ t: Float) -> [Float] {
            let a: Float = t == 5 ? 0.75 : 0.05
            return [t + 4.25 - a * t, 1 + 1.0 - a]
        }
        expectClose(r.features.storage, row(0) + row(2) + row(4) + row(5) + [0.2, 0.1])
        #expect(row(0) == [4.25, 1.95])
    }

    /// Fixed data in both languages: keys[i][c] = sin(1.3i + 0.7c + 0.1), x[i][c] = cos(0.37i − 0.5c),
    /// attention = softmax(0.5·sin(2.1i) + 4·[i ∈ spikes]) cast to float32. Expected numbers from
    /// this numpy translation of the reference loop (python3, numpy 2.4.6):
    ///
    ///     ratio = len(np.where(a > Q3 + 1.5*(Q3-Q1))[0]) / N       # np.percentile, float32
    ///     idx = list(np.argsort(-a, kind='stable')[:int(N*ratio)])
    ///     if plus: idx += [s for s in np.arange(0, N-1, int(int(1/ratio)/3)) if s not in idx]
    ///     compl = [j for j in range(N) if j not in idx]; kn = keys / ‖keys‖
    ///     for p, i in enumerate(idx):
    ///         rest = idx[:p] + idx[p+1:] + compl
    ///         nb = [rest[o] for o in np.argsort(-(kn[rest] @ kn[i]), kind='stable')[:32]]
    ///         out_i = x[i] + Σ_{j∈nb} a[j]·x[j]
    ///     extra = Σ_{j∈compl} a[j]·x[j]
    @Test func pruMergeMatchesNumpyReference() {
        // N = 40 (32-neighbour selection is real: 39 candidates), d = 3, f = 3.
        let (a40, k40, x40) = Self.make(n: 40, d: 3, f: 3, spikes: [5, 17, 31])
        #expect(PruMerge.iqrOutliers(a40) == [5, 17, 31])
        let r = PruMerge.select(clsAttention: a40, keys: k40, features: x40, plus: false)
        #expect(r.indices == [5, 17, 31])
        let expected: [Double] = [
            -0.06450712343655313, 0.23494890067147195, 0.47688125557843825,
            1.2052879158222645, 0.8922845955976101, 0.360818899609933,
            0.597717454273865, 0.19403264562794084, -0.25715812046801334,
            0.011150040467231472, 0.02177544206485506, 0.027069455769475306,
        ]
        expectClose(r.features.storage, expected.map { Float($0) }, tol: 1e-5)

        // N = 576 (the real patch count), d = 8, f = 4: 7 outliers; PruMerge+ step
        // int(int(576/7)/3) = 27 adds arange(0, 575, 27) = 22 samples → 29 tokens.
        let (a, k, x) = Self.make(n: 576, d: 8, f: 4, spikes: [3, 77, 150, 151, 300, 420, 555])
        #expect(PruMerge.iqrOutliers(a) == [3, 77, 150, 151, 300, 420, 555])
        let p = PruMerge.select(clsAttention: a, keys: k, features: x, plus: false)
        #expect(p.indices == [3, 77, 150, 151, 300, 420, 555])
        expectClose(Self.columnSums(p.features, rows: 0..<7),
                    [-0.31592705843918856, -2.0303977411403276, -3.2477561970828246, -3.6699508277556627],
                    tol: 1e-4)
        expectClose(p.features.row(7),
                    [-0.0010004756015503107, 0.0015990475808517314, 0.003807067639069673, 0.0050829854047063465],
                    tol: 1e-6)
        expectClose(p.features.row(0),
                    [0.44322513637429695, 0.8166723789287419, 0.9901697259166878, 0.9212390114521527], tol: 1e-5)

        let q = PruMerge.select(clsAttention: a, keys: k, features: x, plus: true)
        #expect(q.indices.count == 29)
        #expect(Array(q.indices.prefix(12)) == [0, 3, 27, 54, 77, 81, 108, 135, 150, 151, 162, 189])
        #expect(Set(p.indices).isSubset(of: Set(q.indices)))
        expectClose(Self.columnSums(q.features, rows: 0..<29),
                    [-0.38107553635826236, -2.195209039762861, -3.4718786454706447, -3.8985116279287992],
                    tol: 1e-4)
        expectClose(q.features.row(29),
                    [-0.001026083830460015, 0.0015547579517217877, 0.003754940104866846, 0.005035782839941834],
                    tol: 1e-6)
        expectClose(q.features.row(0),
                    [0.9988724594284734, 0.8763687676518104, 0.5392994287840113, 0.07019081695724023], tol: 1e-5)
    }

    @Test func pruMergeFallbackKeepsArgmax() {
        // All-equal attention: no outliers. The reference would keep none (PruMerge+ would
        // divide by zero); here the first token is kept and PruMerge+ uses ratio 1/N.
        let n = 12
        let attn = [Float](repeating: 1 / Float(n), count: n)
        let keys = Tensor(shape: [n, 2], storage: (0..<(2 * n)).map { Float($0 % 5) })
        let x = Tensor(shape: [n, 1], storage: (0..<n).map { Float($0) })
        let r = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: false)
        #expect(r.indices == [0])
        #expect(r.features.shape == [2, 1])
        let s = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: true)
        // step_length = int(12/1) = 12 → step 4 → arange(0, 11, 4) = [0, 4, 8]
        #expect(s.indices == [0, 4, 8])
        #expect(s.features.shape == [4, 1])
    }

    @Test func clsAttentionIsSoftmaxOverAllKeysWithoutCLS() {
        // q = [1, 0], keys rows: CLS [0, 0], patches [2, 0], [0, 5]; scale 1/√2.
        let keys = Tensor(shape: [3, 2], storage: [0, 0, 2, 0, 0, 5])
        let a = PruMerge.clsAttention(clsQuery: [1, 0], keys: keys)
        let e = [0.0, 2 / 2.0.squareRoot(), 0.0].map { Foundation.exp($0) }
        let z = e.reduce(0, +)
        expectClose(a, [Float(e[1] / z), Float(e[2] / z)], tol: 1e-6)
        #expect(PruMerge.clsAttention(clsQuery: [1], keys: Tensor(shape: [1, 1], storage: [3])) == [])
    }

    // MARK: Properties on random and degenerate inputs

    @Test func randomAndDegenerateInputsNeverCrash() {
        var rng = SplitMix64(seed: 0x5EED_70C5)
        for trial in 0..<300 {
            let n = trial % 10 == 0 ? Int(rng.next() % 3) : Int(rng.next() % 90)
            let d = Int(rng.next() % 5), f = Int(rng.next() % 4)
            let mode = rng.next() % 5
            let attn: [Float] = (0..<n).map { i in
                switch mode {
                case 0: return 1 / Float(max(n, 1))                        // all equal
                case 1: return i % 7 == 0 ? 0.5 : 0.001                     // spikes
                case 2: return 0                                            // zeros
                case 3: return i == 1 ? .nan : Float(rng.unit())            // a NaN
                default: return Float(rng.unit())
                }
            }
            let keys = Tensor(shape: [n, d], storage: (0..<(n * d)).map { _ in
                mode == 2 ? 0 : Float(rng.unit() * 2 - 1) })
            let x = Tensor(shape: [n, f], storage: (0..<(n * f)).map { _ in Float(rng.unit()) })

            let base = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: false)
            let plus = PruMerge.select(clsAttention: attn, keys: keys, features: x, plus: true)
            for r in [base, plus] {
                #expect(r.indices == Array(Set(r.indices)).sorted())
                #expect(r.indices.allSatisfy { (0..<n).contains($0) })
                #expect(r.features.shape == [n == 0 ? 0 : r.indices.count + 1, f])
                if n > 0 { #expect(!r.indices.isEmpty) }
            }
            #expect(Set(base.indices).isSubset(of: Set(plus.indices)))
            if n > 0 {
                let outliers = PruMerge.iqrOutliers(attn)
                #expect(base.indices == (outliers.isEmpty ? [FastV.rankDescending(attn)[0]] : outliers))
                let samples = PruMerge.uniformSamples(keptCount: base.indices.count, n: n)
                #expect(plus.indices.count == Set(base.indices).union(samples).count)
            }

            let ratio = [0.0, 0.1, 0.5, 1.0, 2.0, .nan][Int(rng.next() % 6)]
            let kept = FastV.keptIndices(scores: attn, keepRatio: ratio)
            #expect(kept.count == FastV.keepCount(n: n, keepRatio: ratio))
            #expect(kept == kept.sorted())
            #expect(Set(kept).count == kept.count)
        }
    }

    // MARK: Helpers

    static func make(n: Int, d: Int, f: Int, spikes: Set<Int>) -> ([Float], Tensor, Tensor) {
        var keys = [Float](), x = [Float]()
        for i in 0..<n {
            for c in 0..<d { keys.append(Float(Foundation.sin(1.3 * Double(i) + 0.7 * Double(c) + 0.1))) }
            for c in 0..<f { x.append(Float(Foundation.cos(0.37 * Double(i) - 0.5 * Double(c)))) }
        }
        let logits = (0..<n).map { 0.5 * Foundation.sin(2.1 * Double($0)) + (spikes.contains($0) ? 4 : 0) }
        let m = logits.max()!
        let e = logits.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        return (e.map { Float($0 / z) }, Tensor(shape: [n, d], storage: keys), Tensor(shape: [n, f], storage: x))
    }

    static func columnSums(_ t: Tensor, rows: Range<Int>) -> [Float] {
        var s = [Double](repeating: 0, count: t.lastDim)
        for r in rows { for (c, v) in t.row(r).enumerated() { s[c] += Double(v) } }
        return s.map { Float($0) }
    }
}

private func expectClose(_ a: [Float], _ b: [Float], tol: Float = 1e-6,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (i, (x, y)) in zip(a, b).enumerated() {
        #expect(abs(x - y) <= tol * max(1, abs(y)), "element \(i): \(x) vs \(y)", sourceLocation: sourceLocation)
    }
}

private func expectClose(_ a: [Float], _ b: [Double], tol: Float) {
    expectClose(a, b.map { Float($0) }, tol: tol)
}

