import Foundation
import TensorKernels
import Testing
@testable import Contention

@Suite("contention and request trace files")
struct TraceFormatTests {
    let good = """
    # source: hand-written
    # units: seconds, cores, GB/s
    t_s,cpu_busy_cores,mem_bw_gbps
    0,0,0
    1.5,1,10
    3,0.5, 2.25
    """

    @Test("a well-formed contention trace parses with its comments, and the level holds until the next row")
    func parsesContention() throws {
        let trace = try ContentionTrace.parse(good, file: "t.csv")
        #expect(trace.comments == ["source: hand-written", "units: seconds, cores, GB/s"])
        #expect(trace.points.map(\.t) == [0, 1.5, 3])
        #expect(trace.duration == 3)
        #expect(trace.level(at: -1) == .idle)
        #expect(trace.level(at: 1.49) == .idle)
        #expect(trace.level(at: 1.5) == ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 10))
        #expect(trace.level(at: 2.9) == ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 10))
        #expect(trace.level(at: 100) == ContentionLevel(cpuBusyCores: 0.5, memBandwidthGBps: 2.25))
        #expect(abs(trace.meanLevel.cpuBusyCores - 0.5) < 1e-12)
        // Segments: where the level next changes; a repeated level does not end one.
        #expect(trace.segment(at: -1).until == 1.5)
        #expect(trace.segment(at: 2).until == 3)
        #expect(trace.segment(at: 3).until == .infinity)
        let repeated = ContentionTrace(points: [0, 1, 2, 3].map { ContentionPoint(t: $0, level: .idle) }
                                       + [ContentionPoint(t: 4, level: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))])
        #expect(repeated.segment(at: 0.5) == (.idle, 4))
        #expect(ContentionTrace(points: []).segment(at: 7) == (.idle, .infinity))
    }

    @Test("CRLF line ends and a byte-order mark count lines the same way")
    func crlf() throws {
        let text = "\u{FEFF}" + good.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n0,1,x\r\n"
        #expect(throws: ContentionError.self) { try ContentionTrace.parse(text, file: "t.csv") }
        do { _ = try ContentionTrace.parse(text, file: "t.csv") } catch let ContentionError.badTrace(_, line, _) {
            #expect(line == 7)
        }
    }

    @Test("csv() reads back as the same trace")
    func roundTrip() throws {
        let trace = try ContentionTrace.parse(good, file: "t.csv")
        #expect(try ContentionTrace.parse(trace.csv(), file: "again") == trace)
        #expect(trace.csv().split(separator: "\n").contains("t_s,cpu_busy_cores,mem_bw_gbps"))
        let requests = TraceSynth.requests(.count(50), arrival: .poisson(rate: 3), budgets: .logUniform(100...900),
                                           promptTokens: 4...64, maxNewTokens: 8, seed: 9)
        #expect(try RequestTrace.parse(requests.csv(), file: "r") == requests)
    }

    static let badContention: [(String, Int, String)] = [
        ("t,cpu,bw\n0,0,0\n", 1, "header"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n", 2, "no rows"),
        ("# only a comment\n", 2, "no header"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0\n", 2, "expected 3 fields"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0,1\n", 2, "expected 3 fields"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,one,0\n", 2, "cpu_busy_cores 'one' is not a number"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,nan,0\n", 2, "not a number"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0,inf\n", 2, "not a number"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0,1e999\n", 2, "not a number"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,-1,0\n", 2, "out of range"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,5000,0\n", 2, "cpu_busy_cores 5000 is out of range"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,1,20000\n", 2, "mem_bw_gbps 20000 is out of range"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n1,0,0\n", 2, "first row must be at t_s = 0"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n\n# gap\n5,1,1\n2,1,1\n", 6, "before the previous row"),
        ("t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n5,1,1\n5,1,2\n", 4, "repeats the previous row's time"),
    ]

    @Test("bad contention traces name the line and the reason", arguments: 0..<badContention.count)
    func badContentionTrace(_ index: Int) {
        let (text, line, reason) = Self.badContention[index]
        do {
            _ = try ContentionTrace.parse(text, file: "bad.csv")
            Issue.record("parsed: \(text)")
        } catch let ContentionError.badTrace(file, l, r) {
            #expect(file == "bad.csv")
            #expect(l == line, "\(r)")
            #expect(r.contains(reason), "'\(r)' lacks '\(reason)'")
        } catch { Issue.record("unexpected \(error)") }
    }

    static let badRequests: [(String, Int, String)] = [
        ("t_s,budget_ms,prompt_tokens,image\n", 1, "header"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,0,16,synthetic,8\n", 2, "budget_ms must be positive"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,-5,16,synthetic,8\n", 2, "out of range"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,1.5,synthetic,8\n", 2, "prompt_tokens '1.5' is not an integer"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,16,,8\n", 2, "image"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,16,synthetic,0\n", 2, "max_new_tokens 0 is out of range"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n2,100,16,synthetic,8\n1,100,16,synthetic,8\n", 3, "sorted by arrival"),
        ("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,16,a,b,8\n", 2, "expected 5 fields"),
    ]

    @Test("bad request traces name the line and the reason", arguments: 0..<badRequests.count)
    func badRequestTrace(_ index: Int) {
        let (text, line, reason) = Self.badRequests[index]
        do {
            _ = try RequestTrace.parse(text, file: "req.csv")
            Issue.record("parsed: \(text)")
        } catch let ContentionError.badTrace(file, l, r) {
            #expect(file == "req.csv")
            #expect(l == line, "\(r)")
            #expect(r.contains(reason), "'\(r)' lacks '\(reason)'")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test("simultaneous request arrivals are allowed; the error text is file:line: reason")
    func simultaneousArrivals() throws {
        let r = try RequestTrace.parse("t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,16,synthetic,8\n0,200,16,img.png,8\n", file: "r")
        #expect(r.requests.count == 2 && r.requests[1].image == "img.png")
        #expect("\(ContentionError.badTrace(file: "a.csv", line: 3, reason: "x"))" == "a.csv:3: x")
    }

    @Test("a missing file is an error naming it")
    func missingFile() {
        #expect(throws: ContentionError.self) { try ContentionTrace.load(URL(fileURLWithPath: "/nonexistent/trace.csv")) }
    }

    @Test("random garbage and mutated traces never crash the parsers")
    func fuzz() {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("0123456789.,-+eE#\n\r ,,nanif\u{0}\u{FEFF}é😀t_s")
        let seeds = [good, TraceSynth.requests(.count(5), arrival: .fixed(rate: 1), budgets: .fixed(100),
                                               promptTokens: 1...2, maxNewTokens: 1).csv()]
        for i in 0..<3000 {
            var chars: [Character]
            if i % 2 == 0 {
                chars = (0..<Int(rng.next() % 80)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            } else {
                chars = Array(seeds[i / 2 % 2])
                for _ in 0..<(1 + rng.next() % 4) where !chars.isEmpty {
                    let at = Int(rng.next() % UInt64(chars.count))
                    if rng.next() % 2 == 0 { chars[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))] } else { chars.remove(at: at) }
                }
            }
            let text = String(chars)
            for parse in [{ _ = try ContentionTrace.parse(text, file: "f") }, { _ = try RequestTrace.parse(text, file: "f") }] {
                do { try parse() } catch let e as ContentionError {
                    if case .badTrace(_, let line, _) = e { #expect(line >= 1) }
                } catch { Issue.record("unexpected error type \(error)") }
            }
        }
    }
}

@Suite("synthetic traces")
struct TraceSynthTests {
    @Test("every kind is deterministic from its seed, starts at 0, ends at the duration and stays in bounds",
          arguments: TraceSynth.Kind.allCases)
    func kinds(kind: TraceSynth.Kind) throws {
        let a = TraceSynth.contention(kind: kind, duration: 120, seed: 3, maxCores: 1.5, maxBandwidthGBps: 8, step: 0.5)
        #expect(a == TraceSynth.contention(kind: kind, duration: 120, seed: 3, maxCores: 1.5, maxBandwidthGBps: 8, step: 0.5))
        #expect(a.points.first?.t == 0)
        #expect(a.duration == 120)
        #expect(zip(a.points, a.points.dropFirst()).allSatisfy { $0.t < $1.t })
        #expect(a.points.allSatisfy { (0...1.5).contains($0.level.cpuBusyCores) && (0...8).contains($0.level.memBandwidthGBps) })
        #expect(try ContentionTrace.parse(a.csv(), file: "synth") == a)
        if kind == .idle { #expect(a.points.allSatisfy { $0.level.isIdle }) }
        if kind != .idle { #expect(a.points.contains { $0.level.cpuBusyCores > 0.5 }) }
    }

    @Test("bursty traces differ between seeds and alternate idle gaps with bursts")
    func bursty() {
        let a = TraceSynth.contention(kind: .bursty, duration: 600, seed: 1)
        let b = TraceSynth.contention(kind: .bursty, duration: 600, seed: 2)
        #expect(a != b)
        let idleShare = a.points.filter { $0.level.isIdle }.count
        #expect(idleShare > 3 && idleShare < a.points.count - 3)
        #expect(a.meanLevel.cpuBusyCores > 0.05 && a.meanLevel.cpuBusyCores < 0.9)
    }

    @Test("Poisson requests arrive at about the asked rate with budgets and prompts in range")
    func requests() {
        let r = TraceSynth.requests(.count(1000), arrival: .poisson(rate: 2), budgets: .uniform(200...800),
                                    promptTokens: 16...64, maxNewTokens: 8, seed: 1)
        #expect(r.requests.count == 1000)
        let rate = Double(r.requests.count) / r.duration
        #expect(rate > 1.8 && rate < 2.2, "rate \(rate)")
        #expect(r.requests.allSatisfy { (200...800).contains($0.budgetMs) && (16...64).contains($0.promptTokens) && $0.maxNewTokens == 8 })
        #expect(Set(r.requests.map(\.promptTokens)).count > 40)
        let fixed = TraceSynth.requests(.duration(10), arrival: .fixed(rate: 2), budgets: .fixed(300), promptTokens: 8...8, maxNewTokens: 1)
        #expect(fixed.requests.map(\.t) == (0..<20).map { Double($0) / 2 })
    }
}
