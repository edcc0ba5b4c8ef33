import ArgumentParser

/// `adallava`: is your adaptive LLaVA going to meet its latency budget on this CPU?
@main
struct Adallava: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adallava",
        abstract: "Measure, model and validate the latency of adaptive LLaVA inference on this CPU.",
        discussion: """
        adallava runs the real LLaVA-1.5 architecture (CLIP vision tower, projector, LLaMA \
        decoder) on the CPU through OpenBLAS, from a Hugging Face checkpoint directory or a \
        built-in preset with deterministic synthetic weights.
        """,
        subcommands: [Run.self]
    )
}
