import Foundation
import TensorKernels
import Testing
@testable import Contention

/// A few rows in Alibaba cluster-trace-v2018 machine_usage.csv's documented format (no header:
/// machine_id,time_stamp,cpu_util_percent,mem_util_percent,mem_gps,mkpi,net_in,net_out,
/// disk_io_percent). Written here because the real file cannot be downloaded in this sandbox;
/// the values are made up, the layout is the schema's (alibaba/clusterdata schema.md).
let alibabaSample = """
m_1932,386640,41,92,,6,43.02,32.27,5
m_1932,386630,50,92,25,6,43.02,32.27,5
m_2000,386630,10,50,1,1,1,1,1
m_1932,386650,150,92,130,6,43.02,32.27,5
m_1932,386650,50,92,30,6,43.02,32.27,5
m_1932,386660,0,92,0,6,43.02,32.27,5
m_2000,386640,20,50,2,1,1,1,1
"""

@Suite("trace import")
struct TraceImportTests {
    let scaling = TraceImport.Scaling(cores: 2, coresScale: 1, bandwidthGBps: 20)

    @Test("Alibaba machine_usage: one machine, sorted, duplicates averaged, scaled to this machine's cores and bandwidth")
    func alibaba() throws {
        let t = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: alibabaSample), file: "machine_usage.csv",
                                                    machine: nil, scaling: scaling)
        // t=0: 50% of 2 cores, mem_gps 25% of 20 GB/s; t=10: 41%, mem_gps missing → holds 5 GB/s;
        // t=20: mean of 100 (150 clipped) and 50 = 75% → 1.5 cores, mem_gps mean(100, 30) = 65% → 13 GB/s; t=30: idle.
        #expect(t.points.map(\.t) == [0, 10, 20, 30, 40])
        #expect(t.points.map(\.level) == [
            ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 5), ContentionLevel(cpuBusyCores: 0.82, memBandwidthGBps: 5),
            ContentionLevel(cpuBusyCores: 1.5, memBandwidthGBps: 13), .idle, .idle,
        ])
        #expect(t.comments.joined().contains("machine m_1932"))
        #expect(t.comments.joined().contains("cpu_util_percent/100 × 2 cores × 1"))
        #expect(t.comments.joined().contains("mem_gps/100 × 20 GB/s"))
        #expect(t.comments.joined().contains("2 values above 100 clipped"))
        #expect(try ContentionTrace.parse(t.csv(), file: "out") == t)

        let other = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: alibabaSample), file: "f",
                                                        machine: "m_2000", scaling: TraceImport.Scaling(cores: 2, coresScale: 0.5, bandwidthGBps: 20))
        #expect(other.points.first?.level == ContentionLevel(cpuBusyCores: 0.1, memBandwidthGBps: 0.2))
        let window = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: alibabaSample), file: "f",
                                                         machine: "m_1932", scaling: scaling, start: 15, duration: 10)
        #expect(window.points.map(\.t) == [0, 5, 10])
        #expect(window.points[0].level.cpuBusyCores == 0.82)
    }

    @Test("bad Alibaba rows name the line", arguments: [
        ("m_1,0,10,1,1,1,1,1\n", 1, "expected 9 fields"),
        ("m_1,0,10,1,1,1,1,1,1\nm_1,10,ten,1,1,1,1,1,1\n", 2, "cpu_util_percent 'ten' is not a number"),
        ("m_1,0,-5,1,1,1,1,1,1\n", 1, "out of range"),
        ("m_1,0,5,1,1,1,1,1,1\n", 1, "no rows for machine 'm_9'"),
        ("\n", 1, "no machine_usage rows"),
    ])
    func badAlibaba(text: String, line: Int, reason: String) {
        do {
            _ = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: text), file: "mu.csv",
                                                    machine: text.hasPrefix("m_1,0,5,") ? "m_9" : nil, scaling: scaling)
            Issue.record("imported \(text)")
        } catch let ContentionError.badTrace(file, l, r) {
            #expect(file == "mu.csv" && l == line, "\(l): \(r)")
            #expect(r.contains(reason), "\(r)")
        } catch { Issue.record("\(error)") }
    }

    @Test("a generic CSV by column names, with ms times, percent CPU and GB/s")
    func genericCSV() throws {
        let text = "time_ms,host,util,bw\n1000,a,50,3\n1500,a,100,4.5\n3000,a,0,0\n"
        let t = try TraceImport.columns(lines: TraceImport.lines(of: text), file: "u.csv", time: "time_ms", cpu: "util",
                                        bandwidth: "4", timeScale: 0.001, cpuUnit: .percent, bandwidthUnit: .gbps, scaling: scaling)
        #expect(t.points == [ContentionPoint(t: 0, level: .init(cpuBusyCores: 1, memBandwidthGBps: 3)),
                             ContentionPoint(t: 0.5, level: .init(cpuBusyCores: 2, memBandwidthGBps: 4.5)),
                             ContentionPoint(t: 2, level: .idle)])
        #expect(throws: ContentionError.self) {
            try TraceImport.columns(lines: TraceImport.lines(of: text), file: "u.csv", time: "t", cpu: "util", bandwidth: nil,
                                    cpuUnit: .percent, bandwidthUnit: .gbps, scaling: scaling)
        }
        #expect(throws: ContentionError.self) {
            try TraceImport.columns(lines: TraceImport.lines(of: "t,c\n2,1\n1,1\n"), file: "u.csv", time: "t", cpu: "c", bandwidth: nil,
                                    cpuUnit: .cores, bandwidthUnit: .gbps, scaling: scaling)
        }
    }

    @Test("a file is read line by line with the same result as its text")
    func fromFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mu-\(UUID().uuidString).csv")
        try alibabaSample.replacingOccurrences(of: "\n", with: "\r\n").write(to: url, atomically: true, encoding: .utf8)
        let a = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: url), file: "f", machine: nil, scaling: scaling)
        let b = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: alibabaSample), file: "f", machine: nil, scaling: scaling)
        #expect(a == b)
    }

    @Test("garbage and mutated rows never crash the importers")
    func fuzz() {
        var rng = SplitMix64(seed: 5)
        let alphabet = Array("m_0123456789.,-e\n\r #nan\u{0}é")
        for i in 0..<2000 {
            var chars = Array(alibabaSample)
            if i % 2 == 0 {
                chars = (0..<Int(rng.next() % 120)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            } else {
                for _ in 0..<(1 + rng.next() % 5) where !chars.isEmpty {
                    chars[Int(rng.next() % UInt64(chars.count))] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                }
            }
            let text = String(chars)
            do {
                let t = try TraceImport.alibabaMachineUsage(lines: TraceImport.lines(of: text), file: "f", machine: nil, scaling: scaling)
                #expect(t.points.first?.t == 0)
                #expect(try ContentionTrace.parse(t.csv(), file: "again") == t)
            } catch is ContentionError {} catch { Issue.record("\(error)") }
            do {
                _ = try TraceImport.columns(lines: TraceImport.lines(of: "t,c,b\n" + text), file: "f", time: "t", cpu: "c", bandwidth: "b",
                                            cpuUnit: .percent, bandwidthUnit: .percent, scaling: scaling)
            } catch is ContentionError {} catch { Issue.record("\(error)") }
        }
    }
}
