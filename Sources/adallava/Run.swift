import ArgumentParser
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// `adallava run`: one greedy generation, with per-phase timings.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one prompt (and optionally one image) through the model and time each phase.",
        discussion: """
        Prints the generated token ids, the time to first token and the time of each phase \
        (vision tower, projector, prefill, decode) in milliseconds.

        Image prompts: put the config's image_token_index once in --tokens (it is expanded to \
        one token per image feature, as the Hugging Face processor does) or already expanded, \
        and pass --pixels.

        EXAMPLES
          adallava run --model tiny --tokens 1,2,3 --max-new-tokens 8 --json
          adallava run --model tinyllava-1.1b --tokens 1,32000,3 --pixels synthetic
          adallava run --model tinyllava-1.1b --tokens 1,32000,3 --pixels synthetic --budget 0.6 --mode heads
          adallava run --model tiny --tokens 1,1000,2 --pixels synthetic --token-selection fastv --fastv-k 1
          adallava run --model ./llava-1.5-7b-hf --tokens 1,32000,3 --pixels pixels.safetensors
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup(title: "Adaptive execution") var adaptiveFlags: AdaptiveFlags

    @Option(help: ArgumentHelp("Prompt token ids, comma-separated.", valueName: "ids"))
    var tokens: String

    @Option(help: ArgumentHelp(
        "Safetensors file holding one preprocessed 'pixel_values' tensor [1,3,H,W], or 'synthetic'.",
        discussion: "'synthetic' makes a deterministic random image of the shape the vision config needs (from --seed), for timing runs without an image file.",
        valueName: "file|synthetic"))
    var pixels: String?

    @Option(help: "Tokens to generate (greedy).")
    var maxNewTokens: Int = 16

    @Flag(help: "Keep generating after the end-of-sequence token.")
    var ignoreEos = false

    @Option(help: ArgumentHelp("Write the first generated position's logits to this safetensors file (tensor 'logits', [vocab]).", valueName: "file"))
    var dumpLogits: String?

    mutating func validate() throws {
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1, got \(maxNewTokens)") }
        _ = try parseIntList(tokens, option: "--tokens")
    }

    func run() throws {
        let prompt = try parseIntList(tokens, option: "--tokens")
        let threads = modelOptions.resolvedThreads
        BLAS.setThreads(threads)
        let spec = try ModelSpec.resolve(modelOptions.model, seed: modelOptions.seed)
        let context = prompt.count + spec.config.imageFeatureTokens + maxNewTokens
        try spec.checkFits(contextTokens: context)
        let large = spec.config.loadedParameters > 50_000_000
        if large { progress("building \(spec.name) (\(spec.origin)), \(spec.config.loadedParameters / 1_000_000)M parameters") }
        let model = try spec.load(calibrationPath: adaptiveFlags.calibration)
        let adaptive = try adaptiveFlags.options()
        if large { progress("running \(prompt.count)-token prompt, \(maxNewTokens) new tokens, \(threads) thread(s)") }
        let pixelTensor = try loadPixels(pixels, model: model, seed: modelOptions.seed)
        let result = try model.generate(prompt: prompt, pixels: pixelTensor,
                                        options: GenerationOptions(maxNewTokens: maxNewTokens, stopAtEOS: !ignoreEos,
                                                                   adaptive: adaptive))
        if let dumpLogits {
            try SafeTensorsWriter.write([(name: "logits", tensor: result.firstLogits)], to: dumpLogits,
                                        metadata: ["model": spec.name, "origin": spec.origin])
        }
        let report = RunReport(model: spec.name, origin: spec.origin, provenance: .current(threads: threads),
                               promptTokens: result.promptTokens, imageTokens: result.imageTokens,
                               generatedIds: result.tokens, timings: result.timings,
                               adaptive: result.adaptive.map { AdaptiveReport($0, budget: adaptive?.plan == nil ? adaptive?.budget : nil) })
        print(output.json ? try jsonString(report) : report.table)
    }
}

/// The `run` result: one schema for the table and `--json`.
struct RunReport: Codable {
    var model: String
    var origin: String
    var provenance: Provenance
    var promptTokens: Int
    var imageTokens: Int
    var generatedIds: [Int]
    var timings: PhaseTimings
    var adaptive: AdaptiveReport?

    enum CodingKeys: String, CodingKey {
        case model, origin, provenance
        case promptTokens = "prompt_tokens", imageTokens = "image_tokens"
        case generatedIds = "generated_ids", timings, adaptive
    }

    var table: String {
        let t = timings
        func ms(_ x: Double) -> String { String(format: "%10.2f ms", x) }
        var lines = [
            "model            \(model) (\(origin))",
            "device           \(provenance.cpuModel), \(provenance.cores) cores (\(provenance.simd))",
            "threads          \(provenance.threads) (\(provenance.blas))",
            "engine           \(provenance.engineCommit) (\(provenance.build))",
            "prompt           \(promptTokens) tokens, \(imageTokens) of them image features",
        ]
        if let adaptive { lines.append(adaptive.lines) }
        lines += [
            "generated ids    \(generatedIds.map(String.init).joined(separator: ","))",
            "time to first    \(ms(t.timeToFirstTokenMs))",
            "  vision         \(ms(t.visionMs))",
            "  projector      \(ms(t.projectorMs))",
            "  prefill        \(ms(t.prefillMs))" + (adaptive != nil ? "  (choosing the plan: \(String(format: "%.2f", t.planMs)) ms)" : ""),
            "decode           \(ms(t.decodeMs))  (\(max(0, generatedIds.count - 1)) steps)",
        ]
        return lines.joined(separator: "\n")
    }
}
