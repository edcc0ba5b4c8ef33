import ArgumentParser
import Foundation
import LLaVAModel
import TensorKernels

/// Options every verb that builds a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Checkpoint directory or preset name.",
        discussion: "A directory holds a Hugging Face LlavaForConditionalGeneration config.json and model.safetensors (or a sharded model.safetensors.index.json); F32, F16 and BF16 weights are converted to --dtype on load (BF16 tensors stay as stored with --dtype bf16). Presets: \(Preset.names.joined(separator: ", ")).",
        valueName: "dir|preset"))
    var model: String = "tiny"

    @Option(help: "OpenBLAS worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "Seed of a preset's synthetic weights.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp(
        "How the decoder's weights are held: f32, bf16 or q8_0.",
        discussion: "bf16 halves the bytes each decode step streams (fp32 arithmetic throughout); q8_0 stores blocks of 32 int8 with one fp32 scale. The vision tower and projector stay fp32.",
        valueName: "dtype"))
    var dtype: WeightDType = .f32

    mutating func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
    }

    /// The thread count in force: `--threads` or every core.
    var resolvedThreads: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }
}

extension WeightDType: ExpressibleByArgument {}

/// `--json`: one machine-readable object on stdout instead of the table.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of the human-readable report.")
    var json = false
}

/// Parses `1,2,3` into token ids, naming the bad element.
func parseIntList(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    return try parts.enumerated().map { i, part in
        let trimmed = part.trimmingCharacters(in: .whitespaces)
        guard let v = Int(trimmed) else {
            throw ValidationError("\(option): element \(i + 1) '\(trimmed)' is not an integer (expected comma-separated integers, e.g. 1,2,3)")
        }
        return v
    }
}

/// Writes progress lines to stderr (so stdout stays machine-readable), flushed at once.
func progress(_ line: String) {
    FileHandle.standardError.write(Data("[adallava] \(line)\n".utf8))
}

/// Says, once per run of a measuring verb, when this process runs other OpenBLAS kernels than
/// the library chose by itself (`BLASKernels`): the figures that follow depend on it.
func reportBLASKernels() {
    if let note = BLASKernels.current.note { progress(note) }
    if PrefillKernel.current == .amx {
        progress("bf16 and Q8_0 prefill run on AMX tiles, activations rounded to bf16 (ADALLAVA_PREFILL_KERNEL=widen keeps them fp32)")
    }
}

/// Encodes a value as pretty, key-sorted JSON.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
