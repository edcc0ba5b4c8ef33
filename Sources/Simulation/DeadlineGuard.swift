import Dispatch
import LLaVAModel

/// The live engine's deadline guard: a `PlanRevision` that runs `DeadlineControl` on the
/// wall clock. One per request; not shared between threads (the engine calls it from the
/// request's own thread).
public final class DeadlineGuard: PlanRevision, @unchecked Sendable {
    public private(set) var control: DeadlineControl
    /// When the request arrived and when the engine started on it (`DispatchTime` ns).
    let arrivalNs: UInt64, serviceStartNs: UInt64
    let budgetMs: Double

    public init(control: DeadlineControl, budgetMs: Double, arrivalNs: UInt64, serviceStartNs: UInt64) {
        self.control = control; self.budgetMs = budgetMs; self.arrivalNs = arrivalNs; self.serviceStartNs = serviceStartNs
    }

    public func revise(at checkpoint: RequestCheckpoint, schedule: LayerSchedule) -> [Int] {
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = Double(now &- serviceStartNs) / 1e6
        let left = budgetMs - Double(now &- arrivalNs) / 1e6
        return control.checkpoint(checkpoint, elapsedMs: elapsed, leftMs: left)
    }

    /// The control's pruning, at the checkpoint it decided it (asked right after `revise`).
    public func imageKeepRatio(at checkpoint: RequestCheckpoint) -> Double? {
        guard case let .prefillBlock(layer) = checkpoint, control.prunedAt == layer else { return nil }
        return control.pruneKeep
    }

    /// Predicted work of what actually ran (call after the request finished), ms.
    public func finish() -> Double { control.finish() }
}
