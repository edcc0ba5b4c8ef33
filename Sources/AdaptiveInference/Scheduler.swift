import TensorKernels

/// Latency token's hidden state → knob logits → deterministic top-k.
///
/// What the authors' code does (Jav1Star/AdaLLaVA-X, `src/adallava/model/`):
///
/// - `scheduler/simple_scheduler.py`: the head is `self.mlp_head = nn.Linear(hidden, n, bias=True)`
///   on module `self.scheduler` of `AdaLlavaLlamaForCausalLM` (`ada_llava_llama.py`), so the
///   checkpoint tensors are `scheduler.mlp_head.weight` `[n, hidden]` and
///   `scheduler.mlp_head.bias` `[n]`: one name set for L and H, only `n` differs.
///   L (`SimpleScheduler_L`): `n` = switchable layers (16 for 7B).
///   H (`SimpleScheduler_H`): `n` = switchable layers × heads × 2 (1024 for 7B), one logit per
///   attention head and per MLP neuron group, viewed `[layers, 2, heads]`.
/// - `language_model/ada_llama/modeling_ada_llama.py`: the input is the latency token's row of
///   `hidden_states` when the layer loop reaches `idx == num_prefix_layers`, i.e. the output of
///   the last prefix layer; the plan is stored in the KV cache and reused while decoding.
/// - `scheduler/scheduler_utils.py` `n_times_gumbel_softmax(…, training=False)`: `k` rounds of
///   `masked_gumbel_softmax`, which without Gumbel noise masks the picked entries with `−inf`,
///   takes a softmax and `max(dim)` → the largest remaining logit; `torch.max` returns the first
///   maximal index, so ties go to the lowest index. That is ``topK(_:k:)``. (The softmax is
///   monotonic, so the argmax of the logits is the same pick up to fp rounding.)
///   H mode (`n_times_gumbel_softmax_head_version`) is hierarchical instead: each unit picks the
///   *layer* holding the largest remaining logit, then within that layer the top-`rank` (8)
///   remaining attention logits and the top-`rank` remaining MLP logits (`topk` on the
///   softmax). A caller building an H plan composes that from ``logits(_:)``; ``topK(_:k:)``
///   is the L rule.
public struct Scheduler: Sendable {
    /// Checkpoint names (the authors' state-dict keys, relative to the checkpoint root).
    public static let weightName = "scheduler.mlp_head.weight"
    public static let biasName = "scheduler.mlp_head.bias"

    /// The LLM's hidden size.
    public let hidden: Int
    /// Number of logits (L: switchable layers; H: switchable layers × heads × 2).
    public let knobs: Int
    /// `[knobs, hidden]`, PyTorch `nn.Linear` layout.
    public let weight: Tensor
    /// `[knobs]`.
    public let bias: Tensor

    /// Builds a scheduler head, checking shapes; throws ``AdaptiveError/invalidLayout(_:)``.
    public init(hidden: Int, knobs: Int, weight: Tensor, bias: Tensor) throws {
        guard hidden > 0, knobs > 0 else {
            throw AdaptiveError.invalidLayout("scheduler needs a positive hidden size and knob count, got hidden \(hidden), knobs \(knobs)")
        }
        let shapes = Self.tensorShapes(hidden: hidden, knobs: knobs)
        try checkSchedulerTensorShape(weight, name: shapes[0].name, expected: shapes[0].shape)
        try checkSchedulerTensorShape(bias, name: shapes[1].name, expected: shapes[1].shape)
        self.hidden = hidden
        self.knobs = knobs
        self.weight = weight
        self.bias = bias
    }

    /// The two tensors in checkpoint order with their shapes.
    public static func tensorShapes(hidden: Int, knobs: Int) -> [(name: String, shape: [Int])] {
        [(weightName, [knobs, hidden]), (biasName, [knobs])]
    }

    /// Loads through a closure `(name, expected shape) → tensor`. Errors the closure throws
    /// propagate unchanged; a wrong shape (e.g. an H head loaded with an L knob count) throws
    /// ``AdaptiveError/invalidLayout(_:)``.
    public static func load(hidden: Int, knobs: Int, tensor: (String, [Int]) throws -> Tensor) throws -> Scheduler {
        guard hidden > 0, knobs > 0 else {
            throw AdaptiveError.invalidLayout("scheduler needs a positive hidden size and knob count, got hidden \(hidden), knobs \(knobs)")
        }
        let t = try tensorShapes(hidden: hidden, knobs: knobs).map { try tensor($0.name, $0.shape) }
        return try Scheduler(hidden: hidden, knobs: knobs, weight: t[0], bias: t[1])
    }

    /// `hidden` `[hidden]` or `[1, hidden]` → `[knobs]` logits (fp32).
    public func logits(_ hidden: Tensor) -> [Float] {
        precondition(hidden.count == self.hidden && hidden.rows <= 1,
                     "scheduler: expected one row of \(self.hidden) values, got shape \(hidden.shape)")
        return linear(hidden.reshaped([1, self.hidden]), weight: weight, bias: bias).storage
    }

    /// Sequential masked argmax: `k` picks, each the largest logit not yet picked (lowest index
    /// on ties; NaN ranks below every number). Returns knob indices in pick order. `k` is clamped
    /// to `0...logits.count`.
    public static func topK(_ logits: [Float], k: Int) -> [Int] {
        let picks = max(0, min(k, logits.count))
        var taken = [Bool](repeating: false, count: logits.count)
        var order: [Int] = []
        order.reserveCapacity(picks)
        for _ in 0..<picks {
            var best = -1
            for i in logits.indices where !taken[i] {
                if best < 0 || ranksAbove(logits[i], logits[best]) { best = i }
            }
            taken[best] = true
            order.append(best)
        }
        return order
    }

    /// Strictly better: larger, or a number where the incumbent is NaN.
    private static func ranksAbove(_ a: Float, _ b: Float) -> Bool {
        if b.isNaN { return !a.isNaN }
        return a > b
    }
}
