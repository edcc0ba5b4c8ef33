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
}
