import AdaptiveInference
import Contention
import Foundation
import LLaVAModel
import Testing
@testable import Profiling

@Suite("Profiler: statistics, stopping rule, sample grid, work per op")
struct ProfilerTests {
    @Test("statistics match hand-computed values (GSL quantiles interpolate between order statistics)")
    func statistics() {
        let s = RepeatPolicy.stats([5, 1, 4, 2, 3])
        #expect(s.minMs == 1 && s.medianMs == 3 && s.meanMs == 3 && s.n == 5)
        #expect(abs(s.stdMs - 1.5811388300841898) < 1e-12)   // sample standard deviation
        #expect(abs(s.p90Ms - 4.6) < 1e-12 && abs(s.p99Ms - 4.96) < 1e-12)
        let one = RepeatPolicy.stats([2.5])
        #expect(one.stdMs == 0 && one.p99Ms == 2.5)
    }

    @Test("the median's CI half-width is half the range for a few samples and narrows with many")
    func medianCI() {
        #expect(RepeatPolicy.medianCIHalfWidth([1, 2, 3]) == 1)
        let many = (0..<101).map(Double.init)   // uniform 0…100: CI ≈ median ± 1.96·√101/2 ranks
        let h = RepeatPolicy.medianCIHalfWidth(many)
        #expect(h > 8 && h < 12)
    }

    @Test("repeats stop at the minimum once the CI target is met or the cap passed, else at the maximum; stop() abandons")
    func stoppingRule() throws {
        let policy = RepeatPolicy(ciTarget: 100, minRepeats: 3, maxRepeats: 9, capSeconds: 10)
        let steady = try #require(policy.measure(stop: { false }) { usleep(3000) })
        #expect(steady.n == 3)
        var i = 0
        let strict = RepeatPolicy(ciTarget: 1e-9, minRepeats: 3, maxRepeats: 6, capSeconds: 10)
        let noisy = try #require(strict.measure(stop: { false }) { i += 1; usleep(UInt32(2000 + (i % 3) * 1500)) })
        #expect(noisy.n == 6)
        let capped = RepeatPolicy(ciTarget: 1e-9, minRepeats: 3, maxRepeats: 9, capSeconds: 0)
        #expect(capped.measure(stop: { false }) { usleep(2500) }?.n == 3)
        #expect(policy.measure(stop: { true }) { usleep(3000) } == nil)
    }

    @Test("the grid covers every op but llm.block, with prefill and decode for the LLM halves",
          arguments: [Preset.tiny, .llava1_5_7b])
    func grid(preset: Preset) throws {
        let config = preset.config
        let layout = try config.knobLayout()
        let points = ProfileGrid.points(config: config, layout: layout, quick: false)
        #expect(Set(points.map(\.op)) == Set(OpName.allCases).subtracting([.llmBlock]))
        #expect(points.count == Set(points).count, "duplicate points")
        for op in [OpName.llmAttention, .llmMLP, .llmEmbed, .lmHead] {
            #expect(Set(points.filter { $0.op == op }.map(\.phase)) == [.prefill, .decode], "\(op)")
        }
        let heads = Set(points.filter { $0.op == .llmAttention }.map(\.heads))
        #expect(heads.contains(config.textConfig.numAttentionHeads) && heads.count >= 2)
        #expect(points.allSatisfy { $0.context <= config.textConfig.maxPositionEmbeddings })
        if preset == .llava1_5_7b {
            #expect(heads == [8, 16, 24, 32])
            #expect(points.count < 120, "the grid must stay sparse: \(points.count) points")
        }
        #expect(ProfileGrid.points(config: config, layout: layout, quick: true).count < points.count)
    }

    @Test("work grows with tokens, context and active units, and matches the block FLOPs")
    func work() {
        let c = Preset.llava1_5_7b.config, t = c.textConfig
        func attn(_ tokens: Int, _ context: Int, _ heads: Int) -> OpWork {
            c.work(.llmAttention, tokens: tokens, context: context, heads: heads, kvHeads: heads, neurons: t.intermediateSize)
        }
        #expect(attn(512, 512, 32).flops > attn(256, 256, 32).flops)
        #expect(attn(1, 4096, 32).bytes > attn(1, 128, 32).bytes)
        #expect(attn(256, 256, 16).flops < attn(256, 256, 32).flops)
        let block = c.work(.llmBlock, tokens: 300, context: 300, heads: 32, kvHeads: 32, neurons: t.intermediateSize)
        #expect(abs(block.flops - t.blockFLOPs(tokens: 300, context: 300)) < 1)
        #expect(c.work(.lmHead, tokens: 1, context: 1, heads: 0, kvHeads: 0, neurons: 0).bytes > 500e6)
    }

    @Test("the achieved load over a window comes from the generator's running means")
    func achievedWindow() {
        // As the generator prints it (`adallava stress --json`).
        func report(_ t: Double, cores: Double, gbps: Double, last: Double = 0) -> StressReport {
            let zero = #"{"cpu_busy_cores":0,"mem_bw_gbps":0}"#
            let line = #"{"elapsed_s":\#(t),"interval_s":0.1,"asked":\#(zero),"mean_asked":\#(zero),"#
                + #""achieved":{"cpu_busy_cores":\#(last),"mem_bw_gbps":0},"#
                + #""mean_achieved":{"cpu_busy_cores":\#(cores),"mem_bw_gbps":\#(gbps)},"final":false,"pinned_cpus":[]}"#
            return try! JSONDecoder().decode(StressReport.self, from: Data(line.utf8))
        }
        let w = AchievedWindow()
        #expect(w.next(report(1, cores: 1, gbps: 10, last: 0.9)).cpuBusyCores == 0.9)   // no window yet
        let level = w.next(report(3, cores: 0.5, gbps: 4))   // 1·1 then x·2 averages 0.5 over 3 s → x = 0.25
        #expect(abs(level.cpuBusyCores - 0.25) < 1e-12 && abs(level.memBandwidthGBps - 1) < 1e-12)
    }
}
