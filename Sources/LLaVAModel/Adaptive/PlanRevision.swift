/// A point inside one request where the engine stops to ask whether to shed work.
public enum RequestCheckpoint: Sendable, Hashable {
    /// Before decoder block `layer` runs over the prompt (only blocks after the ones the
    /// scheduler's prefix already ran; the first checkpoint comes after vision and projector).
    case prefillBlock(layer: Int)
    /// Before decode step `step` (0-based: step 0 makes the second generated token).
    case decodeStep(step: Int)
}

/// Revises a request's plan while it runs: at each checkpoint it may switch decoder blocks off
/// for the rest of the request. The paper fixes the plan at prefill; a deadline-aware caller
/// (the replay's `DeadlineGuard`) uses these checkpoints to shed the least important blocks
/// when the request is running late — a burst of background load that began after the plan
/// was chosen, or the machine being slower than predicted.
///
/// Dropping is one-way: a block switched off is never switched back on (its KV cache would
/// miss the positions it skipped). Prefix blocks cannot be dropped; the engine ignores them.
public protocol PlanRevision: AnyObject, Sendable {
    /// Decoder blocks (absolute indices) to switch off from `checkpoint` on; `[]` to go on
    /// as planned. `schedule` is what runs now.
    func revise(at checkpoint: RequestCheckpoint, schedule: LayerSchedule) -> [Int]

    /// The share of the image tokens to keep from prefill checkpoint `checkpoint` on; nil goes
    /// on with all of them. Asked right after `revise`, before a prefill block, only while the
    /// request has image tokens that no FastV step has pruned yet and a block has run over the
    /// prompt. The tokens kept are FastV's: those the last prompt token paid the most attention
    /// to (mean over heads) in the last block that ran; the rest leave every later block.
    ///
    /// Why: dropping blocks cannot shed what every block does over the image tokens, and on
    /// `llava-mini` those are 144 of a ≈ 180-token prompt; a burst that begins during the prefix
    /// blocks leaves the guard nothing else to shed. Pruning there is FastV with K = the block
    /// the guard stopped before.
    func imageKeepRatio(at checkpoint: RequestCheckpoint) -> Double?
}

extension PlanRevision {
    /// No pruning: a revision that only switches blocks off.
    public func imageKeepRatio(at checkpoint: RequestCheckpoint) -> Double? { nil }
}
