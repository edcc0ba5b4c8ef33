import Foundation
import Testing
import TensorKernels
@testable import AdaptiveInference

/// The numpy reference written by `scripts/make_scheduler_fixture.py` (see
/// `Tests/Fixtures/scheduler/README.md`). Weights are integers × `weightScale` (exact in fp32).
private struct SchedulerFixture: Decodable {
    struct IntTensor: Decodable {
        let shape: [Int]
        let ints: [Int]
        func tensor(scale: Double) -> Tensor {
            Tensor(shape: shape, storage: ints.map { Float(Double($0) * scale) })
        }
    }
    struct Budget: Decodable {
        let budget: Double
        let units: Int
        let value: Double
        let embedding: [Double]?
        let latencyToken: [Double]
        let planTopK: [Int]
    }
    struct Case: Decodable {
        let knobs: Int
        let totalUnits: Int
        let prefixUnits: Int
        let head: [String: IntTensor]
        let hiddenState: [Double]
        let logits: [Double]
        let topK: [[Int]]
        let budgets: [Budget]
    }
    struct Ties: Decodable {
        let logits: [Double]
        let topK: [[Int]]
    }
    let hidden: Int
    let frequencies: Int
    let layerNormEps: Double
    let weightScale: Double
    let encoder: [String: IntTensor]
    let cases: [Case]
    let ties: Ties

    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/scheduler/scheduler_fixture.json")

    static func load() throws -> SchedulerFixture {
        try JSONDecoder().decode(SchedulerFixture.self, from: Data(contentsOf: url))
    }

    /// A loader closure over a name → tensor table that also checks the shape asked for.
    static func lookup(_ table: [String: IntTensor], scale: Double) -> (String, [Int]) throws -> Tensor {
        { name, shape in
            guard let t = table[name] else { throw LookupError.missing(name) }
            #expect(t.shape == shape, "\(name): asked for \(shape), fixture has \(t.shape)")
            return t.tensor(scale: scale)
        }
    }

    func encoderModel() throws -> LatencyEncoder {
        try LatencyEncoder.load(hidden: hidden, tensor: Self.lookup(encoder, scale: weightScale))
    }

    func scheduler(_ c: Case) throws -> Scheduler {
        try Scheduler.load(hidden: hidden, knobs: c.knobs, tensor: Self.lookup(c.head, scale: weightScale))
    }
}

private enum LookupError: Error, Equatable {
    case missing(String)
    case refused(String)
}

/// max |a − b| over equal-length arrays.
private func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
    #expect(a.count == b.count)
    return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
}

@Suite("EncoderScheduler")
struct EncoderSchedulerTests {
    private let fixture: SchedulerFixture

    init() throws { fixture = try SchedulerFixture.load() }

    // MARK: constants and names

    @Test func fixtureAgreesWithConstants() {
        #expect(fixture.frequencies == LatencyEncoder.frequencies)
        #expect(LatencyEncoder.embeddingWidth == 256)
        #expect(Double(LatencyEncoder.layerNormEps) == Double(Float(fixture.layerNormEps)))
        #expect(LatencyEncoder.activation == .gelu)
    }

    @Test func tensorNamesAreTheAuthorsStateDictKeys() {
        let enc = LatencyEncoder.tensorShapes(hidden: 4096)
        #expect(enc.map(\.name) == [
            "scheduler.scheduler_up_proj.net.0.weight", "scheduler.scheduler_up_proj.net.0.bias",
            "scheduler.scheduler_up_proj.net.1.weight", "scheduler.scheduler_up_proj.net.1.bias",
            "scheduler.scheduler_up_proj.net.3.weight", "scheduler.scheduler_up_proj.net.3.bias",
        ])
        #expect(enc.map(\.shape) == [[256], [256], [4096, 256], [4096], [4096, 4096], [4096]])
        let head = Scheduler.tensorShapes(hidden: 4096, knobs: 16)
        #expect(head.map(\.name) == ["scheduler.mlp_head.weight", "scheduler.mlp_head.bias"])
        #expect(head.map(\.shape) == [[16, 4096], [16]])
        // The fixture (written from the script's own name list) uses the same keys.
        #expect(Set(fixture.encoder.keys) == Set(enc.map(\.name)))
        for c in fixture.cases { #expect(Set(c.head.keys) == Set(head.map(\.name))) }
    }

    // MARK: against the numpy reference

    @Test func quantisationMatchesReference() {
        for c in fixture.cases {
            let switchable = c.totalUnits - c.prefixUnits
            for b in c.budgets {
                let units = max(0, Int((Double(c.totalUnits) * b.budget).rounded(.down)) - c.prefixUnits)
                #expect(units == b.units, "budget \(b.budget)")
                #expect(abs(Double(units) / Double(switchable + 1) - b.value) < 1e-9)
            }
        }
    }

    @Test func sinusoidalEmbeddingMatchesReference() {
        var checked = 0
        for c in fixture.cases {
            for b in c.budgets {
                let value = Double(b.units) / Double(c.totalUnits - c.prefixUnits + 1)
                let e = LatencyEncoder.sinusoidalEmbedding(value)
                #expect(e.shape == [256])
                if let expected = b.embedding {
                    #expect(maxAbsDiff(e.storage, expected) <= 1e-6, "value \(value)")
                    checked += 1
                }
            }
        }
        #expect(checked >= 5)
        // Order: sin block first, cos block second.
        let zero = LatencyEncoder.sinusoidalEmbedding(0)
        #expect(zero.storage[..<128].allSatisfy { $0 == 0 })
        #expect(zero.storage[128...].allSatisfy { $0 == 1 })
        let quarter = LatencyEncoder.sinusoidalEmbedding(0.25)  // frequency 0 → angle π/2
        #expect(abs(quarter.storage[0] - 1) < 1e-7 && abs(quarter.storage[128]) < 1e-7)
    }

    @Test func latencyTokenMatchesReference() throws {
        let encoder = try fixture.encoderModel()
        #expect(encoder.hidden == fixture.hidden)
        for c in fixture.cases {
            for b in c.budgets {
                let value = Double(b.units) / Double(c.totalUnits - c.prefixUnits + 1)
                let token = encoder(value)
                #expect(token.shape == [1, fixture.hidden])
                let diff = maxAbsDiff(token.storage, b.latencyToken)
                #expect(diff <= 1e-5, "knobs \(c.knobs) budget \(b.budget): max |Δ| = \(diff)")
            }
        }
    }

    @Test func logitsMatchReference() throws {
        for c in fixture.cases {
            let scheduler = try fixture.scheduler(c)
            #expect(scheduler.knobs == c.knobs)
            let h = c.hiddenState.map(Float.init)
            let flat = scheduler.logits(Tensor(shape: [fixture.hidden], storage: h))
            let row = scheduler.logits(Tensor(shape: [1, fixture.hidden], storage: h))
            #expect(flat == row)
            #expect(flat.count == c.knobs)
            let diff = maxAbsDiff(flat, c.logits)
            #expect(diff <= 1e-5, "knobs \(c.knobs): max |Δ| = \(diff)")
        }
    }

    @Test func topKMatchesReferenceForEveryK() throws {
        for c in fixture.cases {
            let scheduler = try fixture.scheduler(c)
            let logits = scheduler.logits(Tensor(shape: [fixture.hidden], storage: c.hiddenState.map(Float.init)))
            #expect(c.topK.count == c.knobs + 1)
            for (k, expected) in c.topK.enumerated() {
                #expect(Scheduler.topK(logits, k: k) == expected, "knobs \(c.knobs) k \(k)")
            }
            for b in c.budgets {
                #expect(Scheduler.topK(logits, k: b.units) == b.planTopK, "budget \(b.budget)")
            }
        }
        let ties = fixture.ties.logits.map(Float.init)
        for (k, expected) in fixture.ties.topK.enumerated() {
            #expect(Scheduler.topK(ties, k: k) == expected)
        }
    }

    // MARK: top-k edge cases

    @Test func topKEdgeCases() {
        let l: [Float] = [0.1, 3, -2, 3, 0.5]
        #expect(Scheduler.topK(l, k: 0) == [])
        #expect(Scheduler.topK(l, k: -3) == [])
        #expect(Scheduler.topK(l, k: 1) == [1])                  // tie 1/3 → lowest index
        #expect(Scheduler.topK(l, k: 2) == [1, 3])
        #expect(Scheduler.topK(l, k: 5) == [1, 3, 4, 0, 2])      // k == knobs: a permutation
        #expect(Scheduler.topK(l, k: 99) == [1, 3, 4, 0, 2])     // k > knobs clamps
        #expect(Scheduler.topK([], k: 3) == [])
        #expect(Scheduler.topK([Float](repeating: 7, count: 4), k: 4) == [0, 1, 2, 3])
        #expect(Scheduler.topK([-.infinity, -1, .infinity], k: 3) == [2, 1, 0])
        #expect(Scheduler.topK([.nan, 1, .nan, 0], k: 4) == [1, 3, 0, 2])  // NaN last
    }

    // MARK: loading

    @Test func loadErrorsPropagateFromTheClosure() throws {
        #expect(throws: LookupError.refused("scheduler.scheduler_up_proj.net.1.weight")) {
            _ = try LatencyEncoder.load(hidden: 8) { name, shape in
                if name.hasSuffix("net.1.weight") { throw LookupError.refused(name) }
                return Tensor(zeros: shape)
            }
        }
        #expect(throws: LookupError.refused("scheduler.mlp_head.bias")) {
            _ = try Scheduler.load(hidden: 8, knobs: 4) { name, shape in
                if name.hasSuffix("bias") { throw LookupError.refused(name) }
                return Tensor(zeros: shape)
            }
        }
        // A missing tensor in the fixture table surfaces as the table's own error.
        #expect(throws: LookupError.missing("scheduler.mlp_head.weight")) {
            _ = try Scheduler.load(hidden: 64, knobs: 16, tensor: SchedulerFixture.lookup([:], scale: 1))
        }
    }

    @Test func loadAsksForEveryTensorOnceInOrder() throws {
        var asked: [String] = []
        let enc = try LatencyEncoder.load(hidden: 8) { name, shape in asked.append(name); return Tensor(zeros: shape) }
        #expect(asked == LatencyEncoder.tensorShapes(hidden: 8).map(\.name))
        #expect(enc(0.5).shape == [1, 8])
        asked = []
        let s = try Scheduler.load(hidden: 8, knobs: 3) { name, shape in asked.append(name); return Tensor(zeros: shape) }
        #expect(asked == Scheduler.tensorShapes(hidden: 8, knobs: 3).map(\.name))
        #expect(s.logits(Tensor(zeros: [8])) == [0, 0, 0])
    }

    @Test func wrongShapesAndSizesAreRejected() {
        // An H head (1024 logits) loaded as an L scheduler (16 knobs).
        #expect(throws: AdaptiveError.invalidLayout("tensor 'scheduler.mlp_head.weight' has shape [1024, 8], expected [16, 8]")) {
            _ = try Scheduler.load(hidden: 8, knobs: 16) { name, shape in
                Tensor(zeros: name.hasSuffix("weight") ? [1024, 8] : [1024])
            }
        }
        #expect(throws: AdaptiveError.self) {
            _ = try LatencyEncoder.load(hidden: 8) { name, shape in
                Tensor(zeros: name.hasSuffix("net.0.weight") ? [1, 256] : shape)
            }
        }
        #expect(throws: AdaptiveError.self) { _ = try LatencyEncoder.load(hidden: 0) { Tensor(zeros: $1) } }
        #expect(throws: AdaptiveError.self) { _ = try Scheduler.load(hidden: 8, knobs: 0) { Tensor(zeros: $1) } }
    }
}
