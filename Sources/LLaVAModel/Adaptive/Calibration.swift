import AdaptiveInference
import Foundation
import TensorKernels

/// A training-free knob order, measured on calibration inputs and saved as JSON beside the
/// model, for checkpoints that have no scheduler weights.
///
/// - Blocks (L): influence `1 − cos(h_in, h_out)` averaged over tokens and inputs: a block that
///   barely changes the residual stream is the first to switch off.
/// - Units (H): the activation energy of the unit's heads (attention output before `o_proj`)
///   plus that of its MLP neurons (`silu(gate)·up`), each normalised by the layer's total.
public struct CalibrationFile: Codable, Sendable, Equatable {
    public var model: String
    public var method: String
    public var inputs: Int
    public var prefixLayers: Int
    public var unitHeads: Int
    /// Switchable block indices (0 = first block after the prefix), most important first.
    public var layerOrder: [Int]
    /// H knob indices (`layer · unitsPerLayer + unit`), most important first.
    public var unitOrder: [Int]
    public var layerScores: [Double]
    public var unitScores: [Double]

    enum CodingKeys: String, CodingKey {
        case model, method, inputs, prefixLayers = "prefix_layers", unitHeads = "unit_heads"
        case layerOrder = "layer_order", unitOrder = "unit_order"
        case layerScores = "layer_scores", unitScores = "unit_scores"
    }

    /// Reads a calibration and checks it fits `layout`.
    public static func load(path: String, layout: KnobLayout) throws -> CalibrationFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "no such calibration file")
        }
        let file: CalibrationFile
        do {
            file = try JSONDecoder().decode(CalibrationFile.self, from: data)
        } catch let error as DecodingError {
            throw LlavaConfig.describe(error, path: path)
        }
        func check(_ order: [Int], _ n: Int, _ field: String) throws {
            guard order.sorted() == Array(0..<n) else {
                throw LLaVAModelError.invalidConfig(path: path, field: field, reason: "expected a permutation of 0..<\(n) for this model")
            }
        }
        try check(file.layerOrder, layout.knobCount(.layers), "layer_order")
        try check(file.unitOrder, layout.knobCount(.heads), "unit_order")
        guard file.prefixLayers == layout.prefixLayers, file.unitHeads == layout.unitHeads else {
            throw LLaVAModelError.invalidConfig(path: path, field: "prefix_layers", reason: "calibrated for prefix \(file.prefixLayers), unit of \(file.unitHeads) heads; this layout has \(layout.prefixLayers) and \(layout.unitHeads)")
        }
        return file
    }

    /// Writes the file atomically, keys sorted.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LLaVAModelError.fileUnwritable(path: path, reason: error.localizedDescription)
        }
    }
}

extension LlavaModel {
    /// Measures block influence and unit energy on `prompts` (each with `pixels` if given)
    /// with the full model, and ranks the knobs of `layout`.
    public func calibrate(prompts: [[Int]], pixels: Tensor?, layout: KnobLayout, label: String,
                          progress: (String) -> Void = { _ in }) throws -> CalibrationFile {
        let lm = language, n = lm.layers.count
        var influence = [Double](repeating: 0, count: n)
        let statistics = lm.layers.map { LayerStatistics(heads: $0.heads, intermediate: $0.intermediate) }
        for (index, prompt) in prompts.enumerated() {
            try checkPromptTokens(prompt)
            let features = pixels.map { projector(vision.features($0)) }
            let ids = try expandPrompt(prompt, imageFeatures: features?.rows)
            var caches = lm.makeCaches(capacity: ids.count)
            var state = SequenceState(hidden: inputEmbeddings(ids, imageFeatures: features), positions: Array(0..<ids.count))
            var previous = state.hidden
            lm.runLayers(0..<n, state: &state, caches: &caches, statistics: statistics) { i, h in
                influence[i] += meanCosineDistance(previous, h)
                previous = h
            }
            progress("calibration input \(index + 1)/\(prompts.count): \(ids.count) tokens")
        }
        let switchable = Array(layout.prefixLayers..<n)
        let layerScores = switchable.map { influence[$0] / Double(max(1, prompts.count)) }
        var unitScores: [Double] = []
        for layer in switchable {
            let s = statistics[layer]
            let headTotal = max(s.headEnergy.reduce(0, +), .leastNonzeroMagnitude)
            let neuronTotal = max(s.neuronEnergy.reduce(0, +), .leastNonzeroMagnitude)
            for u in 0..<layout.unitsPerLayer {
                let heads = layout.unitHeadRange(u).reduce(0.0) { $0 + s.headEnergy[$1] } / headTotal
                let neurons = layout.unitNeuronRange(u).reduce(0.0) { $0 + s.neuronEnergy[$1] } / neuronTotal
                unitScores.append(heads + neurons)
            }
        }
        func order(_ scores: [Double]) -> [Int] {
            scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        }
        return CalibrationFile(
            model: label,
            method: "layers: mean 1 - cos(h_in, h_out) per block; units: share of the layer's head output energy + share of its MLP activation energy",
            inputs: prompts.count, prefixLayers: layout.prefixLayers, unitHeads: layout.unitHeads,
            layerOrder: order(layerScores), unitOrder: order(unitScores),
            layerScores: layerScores, unitScores: unitScores)
    }
}

/// Mean over rows of `1 − cos(a_r, b_r)`.
func meanCosineDistance(_ a: Tensor, _ b: Tensor) -> Double {
    let d = a.lastDim
    var total = 0.0
    for r in 0..<a.rows {
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<d {
            let x = Double(a.storage[r * d + i]), y = Double(b.storage[r * d + i])
            dot += x * y; na += x * x; nb += y * y
        }
        total += 1 - dot / max((na * nb).squareRoot(), .leastNonzeroMagnitude)
    }
    return total / Double(max(1, a.rows))
}
