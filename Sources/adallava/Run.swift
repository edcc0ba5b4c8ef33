import ArgumentParser
import Foundation
import LLaVAModel
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
          adallava run --model ./llava-1.5-7b-hf --tokens 1,32000,3 --pixels pixels.safetensors
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Prompt token ids, comma-separated.", valueName: "ids"))
    var tokens: String

    @Option(help: ArgumentHelp("Safetensors file holding one preprocessed 'pixel_values' tensor [1,3,H,W].", valueName: "file"))
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
        let model = try spec.load()
        let pixelTensor = try pixels.map { path -> Tensor in
            let t = try SafeTensorsFile(path: path).tensor("pixel_values")
            try model.validatePixels(t, path: path)
            return t
        }
        let result = try model.generate(prompt: prompt, pixels: pixelTensor,
                                        options: GenerationOptions(maxNewTokens: maxNewTokens, stopAtEOS: !ignoreEos))
        if let dumpLogits {
            try SafeTensorsWriter.write([(name: "logits", tensor: result.firstLogits)], to: dumpLogits,
                                        metadata: ["model": spec.name, "origin": spec.origin])
        }
        let report = RunReport(model: spec.name, origin: spec.origin, threads: threads, blas: BLAS.configuration,
                               promptTokens: result.promptTokens, imageTokens: result.imageTokens,
                               generatedIds: result.tokens, timings: result.timings)
        print(output.json ? try jsonString(report) : report.table)
    }
}

/// The `run` result: one schema for the table and `--json`.
struct RunReport: Codable {
    var model: String
    var origin: String
    var threads: Int
    var blas: String
    var promptTokens: Int
    var imageTokens: Int
    var generatedIds: [Int]
    var timings: PhaseTimings

    enum CodingKeys: String, CodingKey {
        case model, origin, threads, blas
        case promptTokens = "prompt_tokens", imageTokens = "image_tokens"
        case generatedIds = "generated_ids", timings
    }

    var table: String {
        let t = timings
        func ms(_ x: Double) -> String { String(format: "%10.2f ms", x) }
        return """
        model            \(model) (\(origin))
        threads          \(threads) (\(blas))
        prompt           \(promptTokens) tokens, \(imageTokens) of them image features
        generated ids    \(generatedIds.map(String.init).joined(separator: ","))
        time to first    \(ms(t.timeToFirstTokenMs))
          vision         \(ms(t.visionMs))
          projector      \(ms(t.projectorMs))
          prefill        \(ms(t.prefillMs))
        decode           \(ms(t.decodeMs))  (\(max(0, generatedIds.count - 1)) steps)
        """
    }
}
