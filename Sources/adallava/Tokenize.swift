import ArgumentParser
import Foundation
import LLaVAModel

/// `adallava tokenize`: what the checkpoint's tokenizer makes of a text.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the token ids and pieces a checkpoint's tokenizer.json gives for a text.",
        discussion: """
        BOS/EOS are added as the checkpoint's tokenizer_config.json / post-processor says \
        (LLaMA: BOS), unless --no-special-tokens. The directory only needs tokenizer.json \
        (and optionally tokenizer_config.json).

        EXAMPLE
          adallava tokenize --model ./llava-1.5-7b-hf "USER: <image>\\nWhat is shown? ASSISTANT:"
        """
    )

    @Option(help: ArgumentHelp("Directory holding tokenizer.json.", valueName: "dir"))
    var model: String

    @Flag(help: "Do not add BOS/EOS.")
    var noSpecialTokens = false

    @OptionGroup var output: OutputOptions

    @Argument(help: "The text to tokenize.")
    var text: String

    struct Report: Codable {
        var ids: [Int]
        var pieces: [String]
        var decoded: String
    }

    func run() throws {
        let tokenizer = try Tokenizer(directory: model)
        let ids = tokenizer.encode(text, addSpecialTokens: !noSpecialTokens)
        let report = Report(ids: ids, pieces: tokenizer.pieces(ids), decoded: tokenizer.decode(ids, skipSpecialTokens: false))
        if output.json {
            print(try jsonString(report))
        } else {
            print("\(ids.count) tokens")
            for (id, piece) in zip(report.ids, report.pieces) {
                print(String(format: "%8d  ", id) + piece.debugDescription)
            }
        }
    }
}

/// `adallava preprocess`: the pixel tensor `run` would feed the vision tower.
struct Preprocess: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode and preprocess an image exactly as `run --image` does, and save pixel_values.",
        discussion: """
        Reads the checkpoint's preprocessor_config.json (resize shortest edge, bicubic as \
        Pillow does it, center crop, rescale, normalise) and writes a safetensors file holding \
        'pixel_values' [1,3,H,W], usable with `run --pixels`. The directory only needs \
        preprocessor_config.json.

        EXAMPLE
          adallava preprocess --model ./llava-1.5-7b-hf --image photo.jpg --out pixels.safetensors
        """
    )

    @Option(help: ArgumentHelp("Directory holding preprocessor_config.json.", valueName: "dir"))
    var model: String

    @Option(help: ArgumentHelp("PNG or JPEG image.", valueName: "file"))
    var image: String

    @Option(help: ArgumentHelp("Output safetensors file.", valueName: "file"))
    var out: String

    @Flag(help: "Pad to a square with the mean colour first (LLaVA-1.5's image_aspect_ratio \"pad\").")
    var padToSquare = false

    func run() throws {
        let pixels = try ImagePreprocessor(directory: model, padToSquare: padToSquare).pixelValues(path: image)
        try SafeTensorsWriter.write([(name: "pixel_values", tensor: pixels)], to: out,
                                    metadata: ["source": image, "pad_to_square": "\(padToSquare)"])
        print("wrote \(out): pixel_values \(pixels.shape)")
    }
}
