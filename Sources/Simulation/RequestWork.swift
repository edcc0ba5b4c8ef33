import AdaptiveInference
import Contention
import CostModel
import LLaVAModel

/// A request's predicted cost split at the points where the engine can revise its plan
/// (`RequestCheckpoint`): what comes before the decoder blocks, one block over the prompt,
/// the first token's `lm_head`, and one block and the fixed part of each decode step.
///
/// Taken from the planner's prediction for the chosen plan (`LatencyPrediction.breakdown`,
/// calibration included), averaged over the blocks that run: the blocks of a LLaMA decoder
/// have one shape, so a mean block is what any one of them costs (FastV's shorter sequence
/// after layer K is averaged in).
public struct RequestWork: Sendable, Equatable {
    /// Vision tower, projector and prompt embedding, ms.
    public var beforeBlocksMs: Double
    /// One decoder block over the prompt, ms.
    public var prefillBlockMs: Double
    /// `lm_head` of the last prompt position, ms.
    public var firstTokenMs: Double
    /// One decoder block in one decode step, ms.
    public var decodeBlockMs: Double
    /// Embedding and `lm_head` of one decode step, ms.
    public var decodeStepMs: Double
    /// Decode steps (new tokens − 1).
    public var steps: Int
    /// One decoder block over the prompt once the image tokens are pruned (`DeadlineControl`'s
    /// last resort), ms; nil: no prediction of it (the guard then never prunes).
    public var prunedPrefillBlockMs: Double?

    public init(beforeBlocksMs: Double, prefillBlockMs: Double, firstTokenMs: Double, decodeBlockMs: Double,
                decodeStepMs: Double, steps: Int) {
        self.beforeBlocksMs = beforeBlocksMs; self.prefillBlockMs = prefillBlockMs; self.firstTokenMs = firstTokenMs
        self.decodeBlockMs = decodeBlockMs; self.decodeStepMs = decodeStepMs; self.steps = steps
    }

    /// The split of `prediction`, a request of `newTokens` generated tokens.
    public init(prediction p: LatencyPrediction, newTokens: Int) {
        let blockOps: Set<OpName> = [.llmAttention, .llmMLP, .llmBlock]
        func ms(_ phase: Phase, _ keep: (OpName) -> Bool) -> Double {
            p.breakdown.filter { $0.phase == phase && keep($0.op) }.reduce(0) { $0 + $1.ms }
        }
        steps = max(0, newTokens - 1)
        let prefillRuns = Self.runs(.prefill, in: p), decodeRuns = Self.runs(.decode, in: p)
        prefillBlockMs = prefillRuns > 0 ? ms(.prefill) { blockOps.contains($0) } / Double(prefillRuns) : 0
        decodeBlockMs = decodeRuns > 0 ? ms(.decode) { blockOps.contains($0) } / Double(decodeRuns) : 0
        // lm_head of the prompt's last position comes after the blocks; the rest of prefill before.
        firstTokenMs = ms(.prefill) { $0 == .lmHead }
        beforeBlocksMs = ms(.prefill) { !blockOps.contains($0) && $0 != .lmHead }
        decodeStepMs = steps > 0 ? ms(.decode) { !blockOps.contains($0) } / Double(steps) : 0
        // A predictor without a breakdown (a line in k), or whose total is not the sum of its
        // parts: the rest counts as work before the blocks, so the total is always kept.
        let parts = beforeBlocksMs + Double(prefillRuns) * prefillBlockMs + firstTokenMs
            + Double(steps) * decodeStepMs + Double(decodeRuns) * decodeBlockMs
        if abs(p.totalMs - parts) > 1e-9 * max(1, p.totalMs) { beforeBlocksMs = max(0, beforeBlocksMs + p.totalMs - parts) }
    }

    /// Sets `prunedPrefillBlockMs` from `pruned`, the prediction of the same plan with FastV at
    /// K = 1: its prefill blocks are block 0 over the whole prompt (what `prefillBlockMs` is,
    /// block 0 being a prefix block that always runs) and the others over the pruned one.
    public mutating func setPruned(from pruned: LatencyPrediction) {
        let runs = Self.runs(.prefill, in: pruned)
        guard runs > 1 else { return }
        let mean = RequestWork(prediction: pruned, newTokens: steps + 1).prefillBlockMs
        prunedPrefillBlockMs = max(0, (Double(runs) * mean - prefillBlockMs) / Double(runs - 1))
    }

    /// Decoder block runs in `phase`: llm.attn's count (or llm.block's when the profile has
    /// only whole blocks), summed over the shapes it ran at (FastV: before and after K).
    static func runs(_ phase: Phase, in p: LatencyPrediction) -> Int {
        guard let op = p.breakdown.first(where: { $0.phase == phase && ($0.op == .llmAttention || $0.op == .llmBlock) })?.op
        else { return 0 }
        return p.breakdown.filter { $0.phase == phase && $0.op == op }.reduce(0) { $0 + $1.count }
    }

    /// The whole request with `blocks` decoder blocks running throughout, ms.
    public func totalMs(blocks: Int) -> Double {
        beforeBlocksMs + Double(blocks) * prefillBlockMs + firstTokenMs + Double(steps) * stepMs(blocks: blocks)
    }

    /// One decode step with `blocks` blocks running, ms.
    public func stepMs(blocks: Int) -> Double { decodeStepMs + Double(blocks) * decodeBlockMs }
}

extension RequestWork {
    /// Sets `prunedPrefillBlockMs` for `request` run with the first `k` knobs under
    /// `contention`, FastV keeping `keep` of the image tokens, as `planner` predicts it. Left
    /// unset (the guard will not prune) without `keep`, without an image, or when the planner's
    /// plans already prune with a token selection of their own.
    mutating func pricePruning(k: Int, _ request: PlanningRequest, contention: ContentionLevel, planner: Planner,
                               keep: Double?, cache: PredictionCache?) throws {
        guard let keep, request.hasImage, planner.tokenSelection == .none else { return }
        var pruning = planner
        pruning.tokenSelection = .fastV(k: 1, keepRatio: keep)
        setPruned(from: try pruning.predict(k: k, request, contention: contention, cache: cache))
    }
}
