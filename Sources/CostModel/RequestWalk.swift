import AdaptiveInference
import Contention
import LLaVAModel

/// One op of a request, repeated `count` times at a mean shape.
struct OpRun {
    var key: OpKey
    var shape: OpShape
    var count: Int
    /// Part of the time to first token (vision, projector, prefill, first lm_head).
    var firstToken: Bool
}

/// Turns a request into the ops the engine runs, as `LlavaModel.generate` executes it:
/// vision embed + the vision layers LLaVA uses + projector (with an image), prompt embedding,
/// each decoder layer the plan runs over the prompt (FastV shrinks the sequence from layer K
/// on; PruMerge shrinks the image tokens), `lm_head` of the last position, then `newTokens − 1`
/// decode steps whose context grows by one each step.
///
/// The shapes it asks the profile for (the profiler's row conventions): vision ops at
/// `tokens = patches + 1` (577), phase prefill; projector at the image tokens (576, fewer after
/// PruMerge); `llm.embed` at the sequence length (prefill) or 1 (decode); decoder ops at
/// `tokens = context = sequence` in prefill and `tokens = 1, context = KV length` in decode,
/// with the plan's active heads and neurons; `lm_head` at 1 token in both phases (either
/// phase's fit serves the other). Token-selection overhead (FastV's attention probe,
/// PruMerge's merge) and plan building are not modelled: they are small next to the blocks.
enum RequestWalk {
    /// Typical visual tokens kept by PruMerge (≈5.5% of 576 = 32, the paper's average) and
    /// PruMerge+ (≈25% = 144), plus the extra merged token both append. The real count depends
    /// on the image; pass `PlanQuery.imageTokens` when known.
    static func typicalImageTokens(_ selection: TokenSelection, full: Int) -> Int {
        switch selection {
        case .pruMerge: return max(1, Int((Double(full) * 0.055).rounded())) + 1
        case .pruMergePlus: return max(1, Int((Double(full) * 0.25).rounded())) + 1
        default: return full
        }
    }

    static func runs(_ q: PlanQuery, useBlock: Bool) throws -> [OpRun] {
        let t = q.config.textConfig, layout = q.layout
        guard q.promptTokens >= 1 else { throw CostModelError.invalidQuery("prompt tokens must be at least 1, got \(q.promptTokens)") }
        guard q.newTokens >= 1 else { throw CostModelError.invalidQuery("new tokens must be at least 1, got \(q.newTokens)") }
        guard q.threads >= 1 else { throw CostModelError.invalidQuery("threads must be at least 1, got \(q.threads)") }
        guard layout.totalLayers == t.numHiddenLayers, layout.heads == t.numAttentionHeads else {
            throw CostModelError.invalidQuery("knob layout (\(layout.totalLayers) layers, \(layout.heads) heads) does not match the config")
        }
        if let plan = q.plan {
            do { try plan.validate(against: layout) } catch { throw CostModelError.invalidQuery("\(error)") }
        }
        let selection = q.plan?.tokenSelection ?? .none
        let th = q.threads
        func key(_ op: OpName, _ phase: Phase) -> OpKey { OpKey(op: op, phase: phase, threads: th) }
        var runs: [OpRun] = []
        var image = 0
        if q.hasImage {
            let v = q.config.visionConfig, vt = Double(v.numPatches + 1)
            let full = q.config.imageFeatureTokens
            image = (selection == .pruMerge || selection == .pruMergePlus)
                ? min(full, max(1, q.imageTokens ?? typicalImageTokens(selection, full: full))) : full
            let vshape = OpShape(tokens: vt, context: vt, heads: Double(v.numAttentionHeads), neurons: Double(v.intermediateSize))
            runs.append(OpRun(key: key(.visionEmbed, .prefill), shape: vshape, count: 1, firstToken: true))
            runs.append(OpRun(key: key(.visionBlock, .prefill), shape: vshape, count: q.config.visionLayersToRun, firstToken: true))
            let ishape = OpShape(tokens: Double(image), context: Double(image), heads: 0, neurons: 0)
            runs.append(OpRun(key: key(.projector, .prefill), shape: ishape, count: 1, firstToken: true))
        }
        var seq = q.promptTokens + image + (q.latencyToken ? 1 : 0)
        runs.append(OpRun(key: key(.llmEmbed, .prefill), shape: flat(seq), count: 1, firstToken: true))
        let steps = q.newTokens - 1
        var decode: [OpRun] = []
        for layer in 0..<t.numHiddenLayers {
            if case let .fastV(k, r)? = q.plan?.tokenSelection, layer == k, image > 0 {
                seq -= image - FastV.keepCount(n: image, keepRatio: r)
            }
            let (heads, neurons) = active(q.plan, layer: layer, layout: layout)
            guard heads > 0 || neurons > 0 else { continue }   // a skipped block costs nothing
            let s = Double(seq), h = Double(heads), n = Double(neurons)
            let prefill = OpShape(tokens: s, context: s, heads: h, neurons: n)
            // Mean context over the decode steps: seq + 1 … seq + steps.
            let dec = OpShape(tokens: 1, context: s + Double(steps + 1) / 2, heads: h, neurons: n)
            let ops: [OpName] = useBlock ? [.llmBlock] : [.llmAttention, .llmMLP]
            for op in ops {
                runs.append(OpRun(key: key(op, .prefill), shape: prefill, count: 1, firstToken: true))
                if steps > 0 { decode.append(OpRun(key: key(op, .decode), shape: dec, count: steps, firstToken: false)) }
            }
        }
        runs.append(OpRun(key: key(.lmHead, .prefill), shape: flat(1), count: 1, firstToken: true))
        if steps > 0 {
            runs.append(OpRun(key: key(.llmEmbed, .decode), shape: flat(1), count: steps, firstToken: false))
            runs += decode
            runs.append(OpRun(key: key(.lmHead, .decode), shape: flat(1), count: steps, firstToken: false))
        }
        // Layers with the same shape become one run with a count: every feature is linear in
        // the count and the contention term depends only on ratios, so the sum is exact, and a
        // full 32-layer plan costs a handful of evaluations instead of a hundred.
        var merged: [OpRun] = [], index: [MergeKey: Int] = [:]
        for var r in runs {
            if r.key.op == .llmEmbed || r.key.op == .lmHead { r.shape.heads = Double(t.numAttentionHeads); r.shape.neurons = Double(t.intermediateSize) }
            let k = MergeKey(key: r.key, shape: r.shape)
            if let i = index[k] { merged[i].count += r.count } else { index[k] = merged.count; merged.append(r) }
        }
        return merged
    }

    private struct MergeKey: Hashable { var key: OpKey; var shape: OpShape }

    /// Active query heads and MLP neurons of decoder layer `layer` under `plan` (all without one).
    static func active(_ plan: ExecutionPlan?, layer: Int, layout: KnobLayout) -> (heads: Int, neurons: Int) {
        guard let plan else { return (layout.heads, layout.intermediate) }
        let units = plan.activeUnits(layer: layer, layout: layout)
        return (units.reduce(0) { $0 + layout.unitHeadRange($1).count },
                units.reduce(0) { $0 + layout.unitNeuronRange($1).count })
    }

    private static func flat(_ tokens: Int) -> OpShape {
        OpShape(tokens: Double(tokens), context: Double(tokens), heads: 0, neurons: 0)
    }
}

extension CostModel: PlanLatencyPredicting {
    /// Predicts a whole request, summing each op's prediction, times the end-to-end
    /// calibration's scale when the model has one; the margin is then the calibration's, else
    /// the time-weighted mean of the ops' held-out P95 shortfall (idle or contended, as the query). Decoder layers
    /// use `llm.attn` + `llm.mlp` when both were profiled, else `llm.block`.
    public func predict(_ q: PlanQuery) throws -> LatencyPrediction {
        guard ModelDims(q.config) == dims else {
            throw CostModelError.invalidQuery("the cost model was fitted for \(model)'s shapes, not this config's")
        }
        let th = q.threads
        let split = has(OpKey(op: .llmAttention, phase: .prefill, threads: th)) && has(OpKey(op: .llmMLP, phase: .prefill, threads: th))
        let useBlock = !split && has(OpKey(op: .llmBlock, phase: .prefill, threads: th))
        var total = 0.0, first = 0.0, weightedMargin = 0.0
        var order: [OpKey] = [], byKey: [OpKey: (count: Int, ms: Double)] = [:]
        for run in try RequestWalk.runs(q, useBlock: useBlock) {
            var key = run.key
            // lm_head of one position is the same work in prefill and decode: either profile serves.
            if key.op == .lmHead, !has(key) {
                let other = OpKey(op: .lmHead, phase: key.phase == .prefill ? .decode : .prefill, threads: th)
                if has(other) { key = other }
            }
            let m = try op(key)
            let ms = try predictOp(key, shape: run.shape, count: run.count, contention: q.contention)
            total += ms
            if run.firstToken { first += ms }
            let margin = q.contention.isIdle ? (m.marginIdle ?? marginIdle) : (m.marginContended ?? marginContended)
            weightedMargin += ms * margin
            let shown = OpKey(op: run.key.op, phase: run.key.phase, threads: th)
            if byKey[shown] == nil { order.append(shown) }
            byKey[shown, default: (0, 0)].count += run.count
            byKey[shown]!.ms += ms
        }
        // Whole requests timed at profile time correct the sum and give the margin (see
        // `RequestCalibration`); without them, the ops' own held-out margins.
        let calibration = requestCalibration?.state(at: q.contention)
        let ps = calibration?.prefillScale ?? 1, ds = calibration?.decodeScale ?? 1
        // Ops before the first token take the prefill scale; decode steps the decode scale.
        let breakdown = order.map { k in
            OpPrediction(op: k.op, phase: k.phase, count: byKey[k]!.count, ms: byKey[k]!.ms * (k.phase == .decode ? ds : ps))
        }
        return LatencyPrediction(totalMs: first * ps + (total - first) * ds, prefillMs: first * ps, breakdown: breakdown,
                                 relativeMargin: calibration?.margin ?? (total > 0 ? weightedMargin / total : 0))
    }
}

extension CostModel {
    /// The ops of `q` whose shape lies outside what the profile measured (prompt tokens or KV
    /// context beyond the profiled range, or background load beyond the profiled levels): the
    /// linear model extrapolates there. One readable line each; empty when all interpolate.
    public func extrapolations(_ q: PlanQuery) throws -> [String] {
        let th = q.threads
        let split = has(OpKey(op: .llmAttention, phase: .prefill, threads: th)) && has(OpKey(op: .llmMLP, phase: .prefill, threads: th))
        var out: [String] = []
        for run in try RequestWalk.runs(q, useBlock: !split) {
            guard let m = ops.first(where: { $0.key == run.key }) else { continue }
            // Only attention reads the KV cache: a decode MLP or lm_head costs the same at any context.
            let byContext = run.key.phase == .decode && [.llmAttention, .llmBlock].contains(run.key.op)
            let size = byContext ? run.shape.context : run.shape.tokens
            let range = byContext ? m.context : m.tokens
            if size < Double(range.lowerBound) - 0.5 || size > Double(range.upperBound) + 0.5 {
                let line = "\(run.key): \(byContext ? "mean context" : "tokens") \(Int(size.rounded())) outside the profiled \(range.lowerBound)…\(range.upperBound)"
                if !out.contains(line) { out.append(line) }
            }
            let isLLM = [.llmAttention, .llmMLP, .llmBlock].contains(run.key.op)
            let heads = Int(run.shape.heads.rounded()), neurons = Int(run.shape.neurons.rounded())
            if isLLM && (!m.heads.contains(heads) || !m.neurons.contains(neurons)) {
                let line = "\(run.key): \(heads) heads / \(neurons) neurons outside the profiled \(m.heads.lowerBound)…\(m.heads.upperBound) / \(m.neurons.lowerBound)…\(m.neurons.upperBound)"
                if !out.contains(line) { out.append(line) }
            }
            if !q.contention.isIdle && m.contendedPoints == 0 {
                let line = "\(run.key): no contended points profiled, background load ignored"
                if !out.contains(line) { out.append(line) }
            }
        }
        return out
    }
}
