import ArgumentParser
import Foundation
import LLaVAModel
import TensorKernels

/// `adallava calibrate`: a training-free knob order for checkpoints without a scheduler.
struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank blocks and head/neuron units by measured importance and save the order as JSON.",
        discussion: """
        Runs the full model on --inputs calibration prompts (deterministic random token ids \
        of --prompt-tokens tokens, with an image when --pixels is given) and measures, per \
        switchable block, its influence 1 − cos(h_in, h_out), and per H unit the share of its \
        layer's attention-head output energy plus the share of its MLP activation energy. \
        The order (most important first) is written to --out; `run` and `plan` use it with \
        --calibration, and pick it up by themselves from a checkpoint directory that holds \
        \(KnobRanking.calibrationFileName).

        EXAMPLE
          adallava calibrate --model ./llava-1.5-7b-hf --inputs 8 --pixels synthetic
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Calibration prompts.")
    var inputs: Int = 4

    @Option(help: "Tokens per calibration prompt (text tokens; an image adds its features).")
    var promptTokens: Int = 64

    @Option(help: ArgumentHelp("Pixels for every calibration prompt: a safetensors file or 'synthetic'.", valueName: "file|synthetic"))
    var pixels: String?

    @Option(help: ArgumentHelp("Output JSON (default: \(KnobRanking.calibrationFileName) in a checkpoint directory, adallava-calibration-<preset>.json for a preset).", valueName: "file"))
    var out: String?

    mutating func validate() throws {
        if inputs < 1 { throw ValidationError("--inputs must be at least 1, got \(inputs)") }
        if promptTokens < 1 { throw ValidationError("--prompt-tokens must be at least 1, got \(promptTokens)") }
    }

    func run() throws {
        BLAS.setThreads(modelOptions.resolvedThreads)
        let spec = try ModelSpec.resolve(modelOptions.model, seed: modelOptions.seed, dtype: modelOptions.dtype)
        try spec.checkFits(contextTokens: promptTokens + spec.config.imageFeatureTokens + 1)
        let model = try spec.load()
        let pixelTensor = try loadPixels(pixels, model: model, seed: modelOptions.seed)
        let vocab = min(spec.config.textConfig.vocabSize, spec.config.imageTokenIndex)
        var rng = SplitMix64(seed: modelOptions.seed &+ 0xCA11)
        let prompts: [[Int]] = (0..<inputs).map { _ in
            let text = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(max(1, vocab - 3))) + 3 }
            return pixelTensor == nil ? text : [text[0], spec.config.imageTokenIndex] + text.dropFirst()
        }
        let file = try model.calibrate(prompts: prompts, pixels: pixelTensor, layout: model.layout, label: spec.name,
                                       progress: progress)
        let path = out ?? (Preset(rawValue: spec.name) != nil
            ? "adallava-calibration-\(spec.name).json"
            : (spec.name as NSString).appendingPathComponent(KnobRanking.calibrationFileName))
        try file.write(to: path)
        print("wrote \(path): \(file.layerOrder.count) blocks and \(file.unitOrder.count) units ranked on \(inputs) inputs")
        print("most important blocks (after the \(file.prefixLayers)-block prefix): \(file.layerOrder.prefix(8).map { "\($0 + file.prefixLayers)" }.joined(separator: ","))")
    }
}
