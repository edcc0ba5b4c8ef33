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
          adallava run --model ./llava-1.5-7b-hf --image photo.jpg --prompt "What is shown?"
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

    @Option(help: ArgumentHelp("Prompt token ids, comma-separated (instead of --prompt).", valueName: "ids"))
    var tokens: String?

    @Option(help: ArgumentHelp("Question text, put in the LLaVA-1.5 template and tokenized with the checkpoint's tokenizer.json; the answer streams as it is generated.", valueName: "text"))
    var prompt: String?

    @Option(help: ArgumentHelp("PNG or JPEG image, preprocessed as the checkpoint's preprocessor_config.json says (instead of --pixels).", valueName: "file"))
    var image: String?

    @Option(help: ArgumentHelp("Directory with tokenizer.json / preprocessor_config.json (default: --model when it is a directory).", valueName: "dir"))
    var processor: String?

    @Flag(help: "Pad the image to a square with the mean colour before resizing (LLaVA-1.5's image_aspect_ratio \"pad\").")
    var padToSquare = false

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
        switch (tokens, prompt) {
        case (nil, nil): throw ValidationError("give --tokens or --prompt")
        case (.some, .some): throw ValidationError("give --tokens or --prompt, not both")
        case let (t?, nil): _ = try parseIntList(t, option: "--tokens")
        default: break
        }
        if image != nil && pixels != nil { throw ValidationError("give --image or --pixels, not both") }
    }

    /// Where tokenizer.json and preprocessor_config.json are read from.
    func processorDirectory() throws -> String {
        if let processor { return processor }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: modelOptions.model, isDirectory: &isDirectory), isDirectory.boolValue {
            return modelOptions.model
        }
        throw ValidationError("--prompt and --image need a tokenizer and preprocessor: give --processor DIR (a preset has none)")
    }

    func run() throws {
        let threads = modelOptions.resolvedThreads
        let spec = try ModelSpec.resolve(modelOptions.model, seed: modelOptions.seed, dtype: modelOptions.dtype)
        let tokenizer = try self.prompt.map { _ in try Tokenizer(directory: try processorDirectory()) }
        let imagePixels = try image.map { path in
            try ImagePreprocessor(directory: try processorDirectory(), padToSquare: padToSquare).pixelValues(path: path)
        }
        var template: String?
        let prompt: [Int]
        if let text = self.prompt, let tokenizer {
            let chat = ChatPrompt(question: text, withImage: image != nil || pixels != nil, chatTemplate: tokenizer.chatTemplate)
            template = chat.template
            prompt = chat.tokenIds(tokenizer: tokenizer, imageTokenIndex: spec.config.imageTokenIndex)
        } else {
            prompt = try parseIntList(tokens ?? "", option: "--tokens")
        }
        BLAS.setThreads(threads)
        let context = prompt.count + spec.config.imageFeatureTokens + maxNewTokens
        try spec.checkFits(contextTokens: context)
        let large = spec.config.loadedParameters > 50_000_000
        if large { progress("building \(spec.name) (\(spec.origin)), \(spec.config.loadedParameters / 1_000_000)M parameters") }
        let model = try spec.load(calibrationPath: adaptiveFlags.calibration)
        let adaptive = try adaptiveFlags.options()
        if large { progress("running \(prompt.count)-token prompt, \(maxNewTokens) new tokens, \(threads) thread(s)") }
        let pixelTensor = try imagePixels ?? loadPixels(pixels, model: model, seed: modelOptions.seed)
        if let imagePixels { try model.validatePixels(imagePixels, path: image ?? "") }
        // Stream the answer as it is generated (human output only).
        let streamer = tokenizer.flatMap { output.json ? nil : TextStreamer(tokenizer: $0) }
        var onToken: (@Sendable (Int) -> Void)?
        if let streamer { onToken = { streamer.add($0) } }
        let result = try model.generate(prompt: prompt, pixels: pixelTensor,
                                        options: GenerationOptions(maxNewTokens: maxNewTokens, stopAtEOS: !ignoreEos,
                                                                   adaptive: adaptive, onToken: onToken))
        streamer?.finish()
        if let dumpLogits {
            try SafeTensorsWriter.write([(name: "logits", tensor: result.firstLogits)], to: dumpLogits,
                                        metadata: ["model": spec.name, "origin": spec.origin])
        }
        let report = RunReport(model: spec.name, origin: spec.origin, dtype: spec.dtype.rawValue, provenance: .current(threads: threads),
                               promptTokens: result.promptTokens, imageTokens: result.imageTokens,
                               generatedIds: result.tokens, timings: result.timings,
                               adaptive: result.adaptive.map { AdaptiveReport($0, budget: adaptive?.plan == nil ? adaptive?.budget : nil) },
                               text: tokenizer?.decode(result.tokens), promptTemplate: template)
        print(output.json ? try jsonString(report) : report.table)
    }
}

/// The `run` result: one schema for the table and `--json`.
struct RunReport: Codable {
    var model: String
    var origin: String
    /// How the decoder's weights were held (`--dtype`).
    var dtype: String
    var provenance: Provenance
    var promptTokens: Int
    var imageTokens: Int
    var generatedIds: [Int]
    var timings: PhaseTimings
    var adaptive: AdaptiveReport?
    /// The decoded answer, when the prompt was text.
    var text: String?
    var promptTemplate: String?

    enum CodingKeys: String, CodingKey {
        case model, origin, dtype, provenance
        case promptTokens = "prompt_tokens", imageTokens = "image_tokens"
        case generatedIds = "generated_ids", timings, adaptive, text, promptTemplate = "prompt_template"
    }

    var table: String {
        let t = timings
        func ms(_ x: Double) -> String { String(format: "%10.2f ms", x) }
        var lines = [
            "model            \(model) (\(origin)), decoder weights \(dtype)",
            "device           \(provenance.cpuModel), \(provenance.cores) cores (\(provenance.simd))",
            "threads          \(provenance.threads) (\(provenance.blas))",
            "engine           \(provenance.engineCommit) (\(provenance.build))",
            "prompt           \(promptTokens) tokens, \(imageTokens) of them image features",
        ]
        if let promptTemplate { lines.append("template         \(promptTemplate)") }
        if let adaptive { lines.append(adaptive.lines) }
        lines += [
            "generated ids    \(generatedIds.map(String.init).joined(separator: ","))",
            "time to first    \(ms(t.timeToFirstTokenMs))",
            "  vision         \(ms(t.visionMs))",
            "  projector      \(ms(t.projectorMs))",
            "  prefill        \(ms(t.prefillMs))" + (adaptive != nil ? "  (choosing the plan: \(String(format: "%.2f", t.planMs)) ms)" : ""),
            "decode           \(ms(t.decodeMs))  (\(max(0, generatedIds.count - 1)) steps"
                + (generatedIds.count > 1 && t.decodeMs > 0
                    ? String(format: ", %.2f tokens/s)", Double(generatedIds.count - 1) / t.decodeMs * 1000) : ")"),
        ]
        return lines.joined(separator: "\n")
    }
}

/// Prints generated text as it arrives, one token at a time, flushing stdout.
final class TextStreamer: @unchecked Sendable {
    let tokenizer: Tokenizer
    private var ids: [Int] = []
    private let lock = NSLock()

    init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    func add(_ id: Int) {
        lock.lock()
        defer { lock.unlock() }
        let piece = tokenizer.decodeIncrement(previous: ids, next: id)
        ids.append(id)
        FileHandle.standardOutput.write(Data(piece.utf8))
    }

    func finish() {
        FileHandle.standardOutput.write(Data("\n\n".utf8))
    }
}
