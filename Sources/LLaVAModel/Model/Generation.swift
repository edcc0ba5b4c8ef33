import AdaptiveInference
import Foundation
import TensorKernels

/// Wall-clock time of each phase of one request, in milliseconds.
public struct PhaseTimings: Codable, Sendable, Equatable {
    /// Vision tower (embeddings + encoder layers, and PruMerge when asked), `vision.*` ops.
    public var visionMs: Double = 0
    /// Multimodal projector.
    public var projectorMs: Double = 0
    /// Prompt embedding + all decoder blocks over the prompt + `lm_head` of the last position
    /// (with a budget: the prefix blocks, the scheduler and the remaining blocks the plan runs).
    public var prefillMs: Double = 0
    /// Part of `prefillMs`: turning the plan into runnable blocks (scheduler head, top-k and
    /// the copies of sliced weights for AdaLLaVA-H).
    public var planMs: Double = 0
    /// Every decode step after the first token (each: one token through all blocks + `lm_head`).
    public var decodeMs: Double = 0
    /// From the request's start to the first generated token (vision + projector + prefill).
    public var timeToFirstTokenMs: Double = 0

    enum CodingKeys: String, CodingKey {
        case visionMs = "vision_ms", projectorMs = "projector_ms", prefillMs = "prefill_ms", planMs = "plan_ms"
        case decodeMs = "decode_ms", timeToFirstTokenMs = "time_to_first_token_ms"
    }
}

/// What the adaptive path decided for one request.
public struct AdaptiveDecision: Sendable {
    public var plan: ExecutionPlan
    /// Knobs enabled (the paper's k) and their total.
    public var enabledKnobs: Int
    public var knobs: Int
    /// Where the knob order came from (`KnobRanking.source`), or `explicit plan`.
    public var ranking: String
    /// Whether a latency token was appended to the prompt (the scheduler was consulted).
    public var latencyToken: Bool
    /// Visual tokens the decoder saw after token selection (before FastV's pruning: PruMerge;
    /// after: FastV), nil without an image.
    public var imageTokensAfterSelection: Int?
    /// Set when a `PlanRevision` switched blocks off or pruned image tokens part-way: the plan
    /// the last step ran (pruning shows as `fastv(K,r)`, K the block it came before).
    public var ranPlan: ExecutionPlan?
}

/// What one greedy generation produced.
public struct GenerationResult: Sendable {
    /// Generated token ids (without the prompt).
    public var tokens: [Int]
    /// Prompt length after image-token expansion (without a latency token).
    public var promptTokens: Int
    /// Image feature tokens in the prompt (0 without an image).
    public var imageTokens: Int
    public var timings: PhaseTimings
    /// Logits of the last prompt position (the first generated token's distribution), `[vocab]`.
    public var firstLogits: Tensor
    /// Set when the request ran with a budget or an explicit plan.
    public var adaptive: AdaptiveDecision?
}

/// What to adapt: a budget (with mode) or an explicit plan, plus token selection.
public struct AdaptiveOptions: Sendable {
    /// Fraction of the full model, in [0, 1] (the paper's relative budget).
    public var budget: Double?
    public var mode: PlanMode
    /// Overrides `budget` when set.
    public var plan: ExecutionPlan?
    public var tokenSelection: TokenSelection
    /// How partly-on H blocks execute.
    public var slicing: SlicingStrategy

    public init(budget: Double? = nil, mode: PlanMode = .layers, plan: ExecutionPlan? = nil,
                tokenSelection: TokenSelection = .none, slicing: SlicingStrategy = .default) {
        self.budget = budget
        self.mode = mode
        self.plan = plan
        self.tokenSelection = tokenSelection
        self.slicing = slicing
    }
}

/// Greedy-decoding options.
public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    /// Stop after emitting `text_config.eos_token_id` (the reference's default).
    public var stopAtEOS: Bool
    /// Budget, plan and token selection; nil runs the plain model.
    public var adaptive: AdaptiveOptions?
    /// Sees each block's output during prefill (index, `[tokens, hidden]`), for probes/tests.
    public var observePrefill: (@Sendable (Int, Tensor) -> Void)?
    /// Sees each generated id as soon as it is chosen (streaming output).
    public var onToken: (@Sendable (Int) -> Void)?
    /// Asked before each decoder block of prefill and each decode step whether to switch
    /// blocks off (with `adaptive` only; a plain request has no plan to revise).
    public var revision: (any PlanRevision)?

    public init(maxNewTokens: Int = 16, stopAtEOS: Bool = true, adaptive: AdaptiveOptions? = nil,
                observePrefill: (@Sendable (Int, Tensor) -> Void)? = nil, onToken: (@Sendable (Int) -> Void)? = nil,
                revision: (any PlanRevision)? = nil) {
        self.maxNewTokens = maxNewTokens
        self.stopAtEOS = stopAtEOS
        self.adaptive = adaptive
        self.observePrefill = observePrefill
        self.onToken = onToken
        self.revision = revision
    }
}

extension LlavaModel {
    /// Runs the full pipeline on one prompt (and image) and decodes greedily.
    ///
    /// Prefill computes `lm_head` for the last prompt position only, as serving engines do.
    /// With `options.adaptive`, the plan is fixed during prefill and reused for every decode step.
    /// `projectedFeatures` (`[tokens, hidden]`, the projector's output for this image) skips
    /// the vision tower and projector, e.g. when a benchmark reuses one encoded image.
    public func generate(prompt: [Int], pixels: Tensor?, projectedFeatures: Tensor? = nil,
                         options: GenerationOptions) throws -> GenerationResult {
        let adaptive = options.adaptive
        let selection = try validate(prompt: prompt, adaptive: adaptive)
        var timings = PhaseTimings()
        let start = DispatchTime.now()
        let features = projectedFeatures ?? imageFeatures(pixels, selection: selection, timings: &timings)
        let ids = try expandPrompt(prompt, imageFeatures: features?.rows)
        // One extra position for a latency token.
        let capacity = ids.count + 1 + max(0, options.maxNewTokens)
        guard capacity - 1 <= config.textConfig.maxPositionEmbeddings else {
            throw LLaVAModelError.invalidPrompt(reason: "\(ids.count) prompt tokens + \(options.maxNewTokens) new tokens exceed max_position_embeddings \(config.textConfig.maxPositionEmbeddings)")
        }
        let lm = language
        var caches: [KVCache] = []
        var schedule: LayerSchedule?
        var decision: AdaptiveDecision?
        var prefillMs = 0.0, planMs = 0.0
        var guardPruning: TokenSelection?   // FastV a revision asked for part-way
        var logits = try measure(&prefillMs) { () -> Tensor in
            let image = config.imageTokenIndex
            var state = SequenceState(hidden: inputEmbeddings(ids, imageFeatures: features),
                                      positions: Array(0..<ids.count),
                                      imageRows: features == nil ? [] : ids.indices.filter { ids[$0] == image })
            let pruning: TokenPruning? = if case let .fastV(k, r) = selection { TokenPruning(layer: k, keepRatio: r) } else { nil }
            guard let adaptive else {
                caches = lm.makeCaches(capacity: capacity)
                lm.runLayers(0..<lm.layers.count, state: &state, caches: &caches, pruning: pruning,
                             observe: options.observePrefill)
                return lm.logits(lm.normed(state.hidden), row: state.hidden.rows - 1)
            }
            var ran = 0   // blocks already run (the prefix, when the scheduler was consulted)
            let resolved = try resolvePlan(adaptive, selection: selection, state: &state, caches: &caches,
                                           capacity: capacity, pruning: pruning, planMs: &planMs, ranPrefix: &ran,
                                           observe: options.observePrefill)
            decision = resolved
            var built = measure(&planMs) { LayerSchedule(plan: resolved.plan, layout: layout, model: lm, slicing: adaptive.slicing) }
            let tail = lm.makeCaches(capacity: capacity, schedule: built)
            if caches.isEmpty { caches = tail } else { for i in ran..<lm.layers.count { caches[i] = tail[i] } }
            if let revision = options.revision {
                // One block at a time, so the plan can shed blocks that have not run yet. Without
                // FastV in the plan, every block still probes the last token's attention, so the
                // revision may prune the image tokens before any block (`imageKeepRatio`).
                let probing = pruning ?? (state.imageRows.isEmpty ? nil : TokenPruning(layer: Int.max, keepRatio: 1))
                for i in ran..<lm.layers.count {
                    apply(revision.revise(at: .prefillBlock(layer: i), schedule: built), to: &built)
                    if !state.pruned, !state.imageRows.isEmpty, state.lastAttention != nil,
                       let keep = revision.imageKeepRatio(at: .prefillBlock(layer: i)) {
                        TokenPruning(layer: i, keepRatio: keep).apply(to: &state, caches: caches, layer: i)
                        guardPruning = .fastV(k: i, keepRatio: keep)
                    }
                    lm.runLayers(i..<(i + 1), state: &state, caches: &caches, schedule: built, pruning: probing,
                                 observe: options.observePrefill)
                }
            } else {
                lm.runLayers(ran..<lm.layers.count, state: &state, caches: &caches, schedule: built, pruning: pruning,
                             observe: options.observePrefill)
            }
            schedule = built
            decision?.imageTokensAfterSelection = features == nil ? nil : state.imageRows.count
            return lm.logits(lm.normed(state.hidden), row: state.hidden.rows - 1)
        }
        timings.prefillMs = prefillMs
        timings.planMs = planMs
        timings.timeToFirstTokenMs = milliseconds(since: start)
        let firstLogits = logits
        var tokens: [Int] = []
        let decodeStart = DispatchTime.now()
        let offset = decision?.latencyToken == true ? 1 : 0
        while tokens.count < options.maxNewTokens {
            let next = argmax(logits)
            tokens.append(next)
            options.onToken?(next)
            if options.stopAtEOS, next == config.textConfig.eosTokenId { break }
            if tokens.count == options.maxNewTokens { break }
            if let revision = options.revision, var revised = schedule {
                apply(revision.revise(at: .decodeStep(step: tokens.count - 1), schedule: revised), to: &revised)
                schedule = revised
            }
            var state = SequenceState(hidden: lm.embed([next]), positions: [ids.count + offset + tokens.count - 1])
            lm.runLayers(0..<lm.layers.count, state: &state, caches: &caches, schedule: schedule)
            logits = lm.logits(lm.normed(state.hidden), row: 0)
        }
        timings.decodeMs = milliseconds(since: decodeStart)
        if var ran = schedule?.plan {
            if let guardPruning { ran.tokenSelection = guardPruning }
            if ran != decision?.plan { decision?.ranPlan = ran }
        }
        return GenerationResult(tokens: tokens, promptTokens: ids.count, imageTokens: features?.rows ?? 0,
                                timings: timings, firstLogits: firstLogits, adaptive: decision)
    }

    /// Switches off the blocks a revision asked for (prefix blocks and blocks already off stay).
    private func apply(_ layers: [Int], to schedule: inout LayerSchedule) {
        for layer in layers { schedule.skip(layer: layer, layout: layout) }
    }

    /// The plan a request would run with, without running more than the plan needs (the
    /// vision tower and the prefix blocks when the scheduler is consulted).
    public func decidePlan(prompt: [Int], pixels: Tensor?, adaptive: AdaptiveOptions) throws -> AdaptiveDecision {
        let selection = try validate(prompt: prompt, adaptive: adaptive)
        var timings = PhaseTimings()
        let features = imageFeatures(pixels, selection: selection, timings: &timings)
        let ids = try expandPrompt(prompt, imageFeatures: features?.rows)
        var state = SequenceState(hidden: inputEmbeddings(ids, imageFeatures: features), positions: Array(0..<ids.count))
        var caches: [KVCache] = [], ran = 0, planMs = 0.0
        return try resolvePlan(adaptive, selection: selection, state: &state, caches: &caches, capacity: ids.count + 1,
                               pruning: nil, planMs: &planMs, ranPrefix: &ran, observe: nil)
    }

    /// Checks everything about a request that can be checked before computing; returns the
    /// token selection in force (from the options or the explicit plan).
    func validate(prompt: [Int], adaptive: AdaptiveOptions?) throws -> TokenSelection {
        try checkPromptTokens(prompt)
        var selection = adaptive?.tokenSelection ?? .none
        if selection == .none, let planned = adaptive?.plan?.tokenSelection { selection = planned }
        try selection.validate(totalLayers: config.textConfig.numHiddenLayers)
        if let plan = adaptive?.plan { try plan.validate(against: layout) }
        if let adaptive, adaptive.plan == nil {
            _ = try layout.enabledKnobs(budget: adaptive.budget ?? 1, mode: adaptive.mode)
        }
        return selection
    }

    /// Vision tower (with PruMerge / PruMerge+ when selected) and projector, timed.
    func imageFeatures(_ pixels: Tensor?, selection: TokenSelection, timings: inout PhaseTimings) -> Tensor? {
        guard let pixels else { return nil }
        let plus: Bool? = switch selection {
        case .pruMerge: false
        case .pruMergePlus: true
        default: nil
        }
        let visionFeatures = measure(&timings.visionMs) { vision.features(pixels, pruMerge: plus) }
        return measure(&timings.projectorMs) { projector(visionFeatures) }
    }

    /// Chooses the plan. With a budget whose k is strictly between none and all knobs and a
    /// scheduler for the mode, this is the paper's path: the latency token (encoder of the
    /// quantised budget) is appended with its own position, the prefix blocks run on the
    /// whole sequence, and the scheduler's top-k over the token's hidden state picks the knobs;
    /// `caches` and `ranPrefix` then hold what ran. Otherwise the plan follows from a static
    /// order without running anything (k = all or none needs no scheduler).
    func resolvePlan(_ adaptive: AdaptiveOptions, selection: TokenSelection, state: inout SequenceState,
                     caches: inout [KVCache], capacity: Int, pruning: TokenPruning?, planMs: inout Double,
                     ranPrefix: inout Int, observe: ((Int, Tensor) -> Void)?) throws -> AdaptiveDecision {
        if var plan = adaptive.plan {
            if plan.tokenSelection == .none { plan.tokenSelection = selection }
            return AdaptiveDecision(plan: plan, enabledKnobs: plan.enabledKnobCount, knobs: layout.knobCount(plan.mode),
                                    ranking: "explicit plan", latencyToken: false)
        }
        let mode = adaptive.mode, budget = adaptive.budget ?? 1
        let k = try layout.enabledKnobs(budget: budget, mode: mode), n = layout.knobCount(mode)
        if case let .scheduler(encoder, schedulers, _) = ranking, let scheduler = schedulers[mode], k > 0, k < n {
            let token = encoder(try layout.encodedBudget(budget: budget, mode: mode))   // [1, hidden]
            state.hidden = Tensor(shape: [state.hidden.rows + 1, state.hidden.lastDim],
                                  storage: state.hidden.storage + token.storage)
            state.positions.append(state.positions.count)
            caches = language.makeCaches(capacity: capacity)
            language.runLayers(0..<layout.prefixLayers, state: &state, caches: &caches, pruning: pruning, observe: observe)
            ranPrefix = layout.prefixLayers
            let knobs = measure(&planMs) {
                Scheduler.topK(scheduler.logits(Tensor(shape: [state.hidden.lastDim], storage: state.hidden.row(state.hidden.rows - 1))), k: k)
            }
            return AdaptiveDecision(plan: .enabling(knobs, layout: layout, mode: mode, tokenSelection: selection),
                                    enabledKnobs: k, knobs: n, ranking: ranking.source, latencyToken: true)
        }
        let order = ranking.staticOrder(mode, layout: layout)
        let source = k == n || k == 0 ? "none needed (\(k == n ? "all" : "no") knobs enabled)" : staticSource(mode)
        return AdaptiveDecision(plan: .enabling(Array(order.prefix(k)), layout: layout, mode: mode, tokenSelection: selection),
                                enabledKnobs: k, knobs: n, ranking: source, latencyToken: false)
    }

    /// The ranking actually used for a static order in `mode` (a scheduler for the other mode
    /// only does not help).
    private func staticSource(_ mode: PlanMode) -> String {
        if case .scheduler = ranking { return KnobRanking.defaultOrder.source + "; the scheduler has no \(mode.rawValue) head" }
        return ranking.source
    }
}

/// Index of the largest value (first one on ties, as `torch.argmax`).
public func argmax(_ t: Tensor) -> Int {
    var best = 0
    for i in 1..<t.count where t.storage[i] > t.storage[best] { best = i }
    return best
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Runs `body` and adds its wall time to `ms`.
func measure<T>(_ ms: inout Double, _ body: () throws -> T) rethrows -> T {
    let start = DispatchTime.now()
    defer { ms += milliseconds(since: start) }
    return try body()
}
