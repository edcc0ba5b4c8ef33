import AdaptiveInference
import LLaVAModel

/// The deadline arithmetic behind `DeadlineGuard` (live) and the simulator's guarded requests:
/// at each checkpoint, compare how fast the request is really going with what is left, and
/// switch the least important blocks off until the rest fits the budget.
///
/// Why: a plan is chosen from the contention sensed when the request starts. On a shared
/// machine the load can change within the request (a burst that begins 0.2 s in), and the
/// machine itself drifts (idle requests at 1.1–1.6× their prediction, measured on this VM).
/// The planner cannot see either coming; the request's own progress shows both.
///
/// The speed estimate is the larger of two ratios of measured engine time to predicted work:
/// since the request started, shrunk towards `prior` by `priorWeightMs` of pseudo-work (a few
/// blocks' timing is noisy), `(elapsed + prior · w) / (done + w)`; and over the most recent
/// `windowShare` of the request's work, which sees a burst that began part-way at once (the
/// whole-request ratio would dilute it with the quiet start). Larger, because running late is
/// what costs a deadline; a request running fast needs no decision. The request is predicted
/// to finish at `spent + rate · remaining · (1 + slack)`; while that is later than the budget
/// less `reserveMs`, switchable blocks are picked to go, aiming at the least work shed (see
/// `victim(excessMs:at:running:)`), and those due now are switched off: the block about to
/// run over the prompt, or any block before a decode step. The others wait for their turn,
/// when the request's pace is better known.
///
/// Last resort, with `pruneKeep` (and a pruned block's prediction in `work`): when shedding
/// every switchable block still would not bring the request in before a prefill block, the
/// image tokens are pruned there too (FastV, keeping `pruneKeep` of them): the one way to cut
/// what the prefix blocks and every block still ahead do over the image. It comes first, then
/// blocks are picked against the pruned costs. Only once, and never before block 0 (FastV ranks
/// by the attention of a block that ran).
///
/// Why the reserve: after the last checkpoint (before the last decode step) nothing can be
/// shed, and a request the guard steers to land just inside its budget misses on any hiccup
/// there. In the stop-13 llava-mini replay (2000 requests), 5 of the 8 misses were requests
/// that had landed at 0.97–0.99 of their budget when a burst began in their last step
/// (0.4–2.6% over); only 10 of the 1218 met requests had ended above 0.97 of theirs.
public struct DeadlineControl: Sendable {
    public let work: RequestWork
    /// Decoder blocks that may be dropped, least important first.
    public let dropOrder: [Int]
    /// Which decoder blocks run now (index = block).
    public private(set) var running: [Bool]
    /// Predicted work already executed, ms (`RequestWork` units).
    public private(set) var doneMs: Double = 0
    /// Blocks switched off so far, in the order they went.
    public private(set) var dropped: [Int] = []
    public let prior: Double
    public let priorWeightMs: Double
    public let slack: Double
    /// Time kept free at the end of the budget, ms (see the type's notes).
    public let reserveMs: Double
    /// Share of the image tokens kept when the guard prunes (nil: it never does).
    public let pruneKeep: Double?
    /// The prefill block the image tokens were pruned before, once they were.
    public private(set) var prunedAt: Int?
    /// Predicted work the recent-rate window spans, ms.
    public let windowMs: Double
    private var last: RequestCheckpoint?
    /// (elapsed, done) at each checkpoint so far, ms.
    private var history: [(elapsed: Double, done: Double)] = []

    /// `plan` is the plan the request starts with; `order` the planner's knob order (most
    /// important first), whose reverse gives the drop order (a block goes with its most
    /// important knob's rank). `prior` is the speed assumed before the request shows its own
    /// (the replays pass the recent requests' median engine ÷ predicted ratio).
    public init(work: RequestWork, plan: ExecutionPlan, layout: KnobLayout, order: [Int],
                prior: Double = 1, priorWeightMs: Double? = nil, slack: Double = 0.03, reserveMs: Double = 0, windowShare: Double = 0.15,
                pruneKeep: Double? = nil) {
        self.work = work
        running = (0..<layout.totalLayers).map { plan.runsLayer($0, layout: layout) }
        let perLayer = plan.mode == .layers ? 1 : max(1, layout.unitsPerLayer)
        var rank: [Int: Int] = [:]
        for (position, knob) in order.enumerated() {
            let layer = layout.prefixLayers + knob / perLayer
            if rank[layer] == nil { rank[layer] = position }
        }
        dropOrder = (layout.prefixLayers..<layout.totalLayers).sorted { (rank[$0] ?? Int.max) > (rank[$1] ?? Int.max) }
        self.prior = prior
        let blocks = running.filter { $0 }.count
        self.priorWeightMs = priorWeightMs ?? 0.25 * work.totalMs(blocks: blocks)
        self.slack = slack
        self.reserveMs = reserveMs
        self.pruneKeep = work.prunedPrefillBlockMs == nil ? nil : pruneKeep
        windowMs = windowShare * work.totalMs(blocks: blocks)
    }

    /// How much slower than predicted the request runs now (see the type's notes).
    public func rate(elapsedMs: Double) -> Double {
        let overall = (elapsedMs + prior * priorWeightMs) / (doneMs + priorWeightMs)
        // The latest checkpoint at least a window of work back.
        guard windowMs > 0, let then = history.last(where: { doneMs - $0.done >= windowMs }) else { return overall }
        return max(overall, (elapsedMs - then.elapsed) / (doneMs - then.done))
    }

    /// Blocks running now.
    public var runningBlocks: Int { running.lazy.filter { $0 }.count }

    /// Called at each checkpoint in order, with the engine time spent so far on this request
    /// (`elapsedMs`) and the time left before its deadline counted from now
    /// (`budget − (now − arrival)`, `leftMs`). Returns the blocks to switch off now.
    public mutating func checkpoint(_ point: RequestCheckpoint, elapsedMs: Double, leftMs: Double) -> [Int] {
        doneMs += executed(since: last, until: point)
        last = point
        history.append((elapsedMs, doneMs))
        let pace = rate(elapsedMs: elapsedMs) * (1 + slack)
        // The blocks that must go for the rest to fit, chosen on a scratch copy...
        func shed() -> (chosen: [Int], late: Bool) {
            var plan = running, chosen: [Int] = []
            while case let excess = pace * remaining(from: point, running: plan) - (leftMs - reserveMs), excess > 0 {
                guard let victim = victim(excessMs: excess / pace, at: point, running: plan) else { return (chosen, true) }
                plan[victim] = false
                chosen.append(victim)
            }
            return (chosen, false)
        }
        var (chosen, late) = shed()
        // ...with the image tokens pruned first when even every block would not do.
        if late, pruneKeep != nil, prunedAt == nil, case let .prefillBlock(layer) = point, layer >= 1 {
            prunedAt = layer
            chosen = shed().chosen
        }
        // ...but only those due now go: the block about to run over the prompt, or any block
        // before a decode step. A later block saves as much when it is dropped just before it
        // runs, and by then the request's pace is better known (a burst may have ended, the
        // prior's weight has faded), so the decision waits for it.
        let due = chosen.filter { block in
            if case let .prefillBlock(layer) = point { return block == layer }
            return true
        }
        for block in due { running[block] = false }
        dropped += due
        return due
    }

    /// The next running block to switch off when the rest (with `running`) is `excessMs` of
    /// predicted work too long, aiming at the least work shed: one block saving enough (the
    /// one saving least), or several smaller ones whose savings add up to less (the largest
    /// first), whichever sheds less; the least important knobs among equals. Nil when no
    /// running block saves anything.
    ///
    /// Why not simply the least important: a block whose prefill has run saves only its
    /// decode steps (3 × ≈ 2.3 ms on llava-mini), one still ahead saves its prefill too (≈ 35
    /// ms, 8% of a request). Always taking the least important, and deciding at the first
    /// checkpoint that saw the request late, made the guard give up a whole prefill block to
    /// close a gap of a few ms: in the stop-13 llava-mini replays, the idle requests it shed
    /// for landed at 0.84–0.85 of their budgets on average (reserve 0.03), where it only had
    /// to bring them under 0.94.
    func victim(excessMs: Double, at point: RequestCheckpoint, running: [Bool]) -> Int? {
        // (block, saving, rank in the drop order), least important first.
        let candidates = dropOrder.enumerated().filter { running[$0.element] }
            .map { (block: $0.element, saves: saving(of: $0.element, at: point), rank: $0.offset) }
            .filter { $0.saves > 0 }
        let single = candidates.filter { $0.saves >= excessMs }.min { ($0.saves, $0.rank) < ($1.saves, $1.rank) }
        let small = candidates.filter { $0.saves < excessMs }.sorted { ($0.saves, -$0.rank) > ($1.saves, -$1.rank) }
        var cover = 0.0
        for c in small where cover < excessMs { cover += c.saves }
        if let single, cover < excessMs || single.saves <= cover { return single.block }
        return small.first?.block
    }

    /// Predicted work block `block` would still do from `point` on: its prefill if that has
    /// not run yet, and its share of every decode step left.
    func saving(of block: Int, at point: RequestCheckpoint) -> Double {
        switch point {
        case let .prefillBlock(layer):
            return (block >= layer ? prefillMs(block: block) : 0) + Double(work.steps) * work.decodeBlockMs
        case let .decodeStep(step):
            return Double(max(0, work.steps - step)) * work.decodeBlockMs
        }
    }

    /// Predicted work of the whole request as it ran (call once it has finished), ms.
    public mutating func finish() -> Double {
        doneMs += executed(since: last, until: nil)
        last = .decodeStep(step: work.steps)
        return doneMs
    }

    /// Predicted work between two checkpoints (nil `from` = the request's start, nil `to` = its
    /// end), with the blocks that ran in between.
    private func executed(since from: RequestCheckpoint?, until to: RequestCheckpoint?) -> Double {
        let layers = running.count
        // Position of a checkpoint on one axis: prefill block i → i, decode step s → layers + 1 + s.
        func position(_ p: RequestCheckpoint?, start: Bool) -> Int {
            switch p {
            case nil: return start ? -1 : layers + 1 + work.steps
            case let .prefillBlock(layer)?: return layer
            case let .decodeStep(step)?: return layers + 1 + step
            }
        }
        let a = position(from, start: true), b = position(to, start: false)
        guard b > a else { return 0 }
        var ms = 0.0
        if a < 0 { ms += work.beforeBlocksMs }
        let lower = max(0, a), upper = min(layers, b)
        if lower < upper { for layer in lower..<upper where running[layer] { ms += prefillMs(block: layer) } }
        if a <= layers && b > layers { ms += work.firstTokenMs }
        let stepsDone = max(0, b - max(a, layers + 1))
        ms += Double(stepsDone) * work.stepMs(blocks: runningBlocks)
        return ms
    }

    /// Predicted work of prefill block `block`: over the pruned prompt from `prunedAt` on.
    /// (Decode steps after pruning attend to fewer keys; at these contexts that is noise next to
    /// the weights they read, so they keep the unpruned prediction.)
    private func prefillMs(block: Int) -> Double {
        if let prunedAt, block >= prunedAt, let pruned = work.prunedPrefillBlockMs { return pruned }
        return work.prefillBlockMs
    }

    /// Predicted work from `point` to the end with the blocks `running` says.
    private func remaining(from point: RequestCheckpoint, running: [Bool]) -> Double {
        let n = running.lazy.filter { $0 }.count
        switch point {
        case let .prefillBlock(layer):
            let ahead = (layer..<running.count).filter { running[$0] }.reduce(0) { $0 + prefillMs(block: $1) }
            return ahead + work.firstTokenMs + Double(work.steps) * work.stepMs(blocks: n)
        case let .decodeStep(step):
            return Double(max(0, work.steps - step)) * work.stepMs(blocks: n)
        }
    }
}
