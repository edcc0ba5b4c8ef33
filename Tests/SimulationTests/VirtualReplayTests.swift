import AdaptiveInference
import Contention
import CostModel
import Foundation
import Testing
@testable import Simulation

@Suite("virtual-time replay: one engine, FIFO queue, the reference predictor as engine time")
struct VirtualReplayTests {
    let quiet = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle)])

    @Test("simultaneous arrivals queue: the second starts when the first ends and its latency includes the wait")
    func fifo() throws {
        let planner = TinyFixture.planner(.profile)
        let big = 1e6
        let requests = [TraceRequest(t: 0, budgetMs: big, promptTokens: 8, maxNewTokens: 4),
                        TraceRequest(t: 0, budgetMs: big, promptTokens: 8, maxNewTokens: 4),
                        TraceRequest(t: 100, budgetMs: big, promptTokens: 8, maxNewTokens: 4)]
        let rows = try VirtualReplay(planner: planner, contention: quiet).run(requests)
        #expect(rows[1].startS == rows[0].endS)
        #expect(abs(rows[1].latencyMs - (rows[0].serviceMs + rows[1].serviceMs)) < 1e-6)
        #expect(rows[2].startS == 100)  // the engine was free again
        #expect(rows.allSatisfy { $0.mode == "simulated" && $0.outcome == "met" && $0.knobs == $0.totalKnobs })
    }

    @Test("the engine scale multiplies every simulated engine time (the machine's speed against the profile's)")
    func engineScale() throws {
        let requests = [TraceRequest(t: 0, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4)]
        var replay = VirtualReplay(planner: TinyFixture.planner(.profile), contention: quiet)
        let plain = try replay.run(requests)[0]
        replay.engineScale = 0.8
        let scaled = try replay.run(requests)[0]
        #expect(plain.serviceMs > 0 && abs(scaled.serviceMs - 0.8 * plain.serviceMs) < 1e-9 * plain.serviceMs)
        #expect(scaled.predictedMs == plain.predictedMs)   // the planner's prediction is not scaled
    }

    @Test("an infeasible request is rejected unrun by choice, and the engine stays free for the next one")
    func rejectInfeasible() throws {
        let requests = [TraceRequest(t: 0, budgetMs: 0.001, promptTokens: 8, maxNewTokens: 4),
                        TraceRequest(t: 0, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4)]
        var replay = VirtualReplay(planner: TinyFixture.planner(.contentionAware), contention: quiet)
        let ran = try replay.run(requests)
        #expect(ran[0].outcome == "infeasible" && ran[0].serviceMs > 0)
        #expect(ran[1].startS == ran[0].endS)
        replay.controls.rejectInfeasible = true
        let rejected = try replay.run(requests)
        #expect(rejected[0].outcome == "rejected" && rejected[0].serviceMs == 0 && rejected[0].ranKnobs == 0)
        #expect(rejected[0].droppedKnobs == 0 && rejected[0].ranPlan.isEmpty)
        #expect(rejected[1].startS == 0 && rejected[1].outcome == "met")
    }

    @Test("engine time follows the trace's contention at the request's start")
    func contentionAtStart() throws {
        let trace = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle),
                                             ContentionPoint(t: 10, level: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))])
        let predictor = SharedCoresPredictor(base: TinyFixture.line)
        let planner = TinyFixture.planner(.flops, predictor: predictor)
        let requests = [TraceRequest(t: 1, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4),
                        TraceRequest(t: 11, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4)]
        let rows = try VirtualReplay(planner: planner, contention: trace).run(requests)
        #expect(rows[0].sensed == .idle && rows[1].sensed.cpuBusyCores == 1)
        #expect(abs(rows[1].serviceMs / rows[0].serviceMs - 2) < 1e-9)  // 1 + 1 core / 1 thread
    }

    @Test("with the live sensor's window, a burst that began as the request arrived is not seen yet; the engine still pays for it")
    func liveSensor() throws {
        let busy = ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 5)
        let trace = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle), ContentionPoint(t: 10, level: busy)])
        let planner = TinyFixture.planner(.contentionAware, predictor: SharedCoresPredictor(base: TinyFixture.line))
        let requests = [10.0, 20.02, 30.1].map { TraceRequest(t: $0, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4) }
        var replay = VirtualReplay(planner: planner, contention: trace)
        let oracle = try replay.run(requests)
        #expect(oracle.allSatisfy { $0.sensed == busy })
        replay.sensorWindowS = 0.2
        let live = try replay.run(requests)
        // 10.0: nothing of the burst in the window; 20.02: the whole window loaded, bandwidth unseen.
        #expect(live[0].sensed == .idle)
        #expect(live[1].sensed == ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))
        #expect(abs(live[0].serviceMs - oracle[0].serviceMs) < 1e-9 * oracle[0].serviceMs, "the engine runs at the trace's level")
        // Half a window into a burst that begins at 30 s on an idle-then-busy trace.
        let edge = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle), ContentionPoint(t: 30, level: busy)])
        var late = VirtualReplay(planner: planner, contention: edge)
        late.sensorWindowS = 0.2
        let rows = try late.run([TraceRequest(t: 30.02, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4),
                                 TraceRequest(t: 40.1, budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4)])
        #expect(rows[0].sensed == .idle, "0.1 cores over the window: under the noise floor")
        #expect(rows[1].sensed == ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))
    }

    @Test("noise is seeded: same seed, same rows; another seed, other service times")
    func seededNoise() throws {
        let planner = TinyFixture.planner(.contentionAware)
        let requests = (0..<50).map { TraceRequest(t: Double($0), budgetMs: 1e6, promptTokens: 8, maxNewTokens: 4) }
        let a = try VirtualReplay(planner: planner, contention: quiet, noise: true, seed: 7).run(requests)
        let b = try VirtualReplay(planner: planner, contention: quiet, noise: true, seed: 7).run(requests)
        let c = try VirtualReplay(planner: planner, contention: quiet, noise: true, seed: 8).run(requests)
        #expect(a == b)
        #expect(a.map(\.serviceMs) != c.map(\.serviceMs) || TinyFixture.line.relativeMargin == 0)
    }

    @Test("rows stream to the CSV and SQLite as they complete, and read back through the results parser")
    func store() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("r.csv").path
        let store = try ResultsStore(csvPath: csv, sqlitePath: dir.appendingPathComponent("r.sqlite").path, comments: ["test"])
        let requests = (0..<20).map { TraceRequest(t: Double($0) * 0.001, budgetMs: 5, promptTokens: 8, maxNewTokens: 4) }
        var seen = 0
        let rows = try VirtualReplay(planner: TinyFixture.planner(.contentionAware), contention: quiet).run(requests) { row in
            try store.append(row)
            seen += 1
            // Already on disk when the next request is simulated.
            let text = try String(contentsOfFile: csv, encoding: .utf8)
            #expect(try ReplayResult.parseCSV(text, file: csv).count == seen)
        }
        #expect(try store.storedCount() == 20)
        store.close()
        #expect(try ReplayResult.parseCSV(String(contentsOfFile: csv, encoding: .utf8), file: csv) == rows)
    }

    /// Not a timed assertion: prints the rate so a run of the suite shows it (debug build; the
    /// release CLI prints its own figure on every --simulate run).
    @Test("throughput: prints simulated requests per second for 20k requests")
    func throughput() throws {
        let trace = TraceSynth.contention(kind: .bursty, duration: 3600, seed: 3)
        let requests = TraceSynth.requests(.count(20_000), arrival: .poisson(rate: 25), budgets: .uniform(1...50),
                                           promptTokens: 8...8, maxNewTokens: 4, seed: 3).requests
        let predictor = SharedCoresPredictor(base: TinyFixture.line)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let rows = try VirtualReplay(planner: TinyFixture.planner(.contentionAware, predictor: predictor), contention: trace).run(requests)
        let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        print(String(format: "virtual replay: %d requests in %.3f s = %.0f requests/s", rows.count, s, Double(rows.count) / s))
        #expect(rows.count == 20_000)
    }
}
