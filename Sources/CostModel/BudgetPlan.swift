import AdaptiveInference
import LLaVAModel

/// A relative budget turned into a plan the way `LlavaModel.generate` does, without running
/// the model: k = `layout.enabledKnobs(budget:mode:)` knobs, chosen by the calibration order
/// when there is one, else the earliest knobs. With scheduler weights the engine's choice of
/// *which* k knobs depends on the input (its cost does not in L mode, where every block costs
/// the same; in H mode it can differ by how the units spread over layers), and it appends a
/// latency token, which the returned flag says.
public enum BudgetPlan {
    public static func resolve(budget: Double, mode: PlanMode, tokenSelection: TokenSelection, layout: KnobLayout,
                               ranking: KnobRanking) throws -> (plan: ExecutionPlan, latencyToken: Bool) {
        let k = try layout.enabledKnobs(budget: budget, mode: mode), n = layout.knobCount(mode)
        let order: [Int]
        var token = false
        switch ranking {
        case let .calibration(file, _):
            order = mode == .layers ? file.layerOrder : file.unitOrder
        case let .scheduler(_, schedulers, _):
            order = Array(0..<n)
            token = schedulers[mode] != nil && k > 0 && k < n
        case .defaultOrder:
            order = Array(0..<n)
        }
        return (ExecutionPlan.enabling(Array(order.prefix(k)), layout: layout, mode: mode, tokenSelection: tokenSelection), token)
    }
}
