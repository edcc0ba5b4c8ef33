import Testing
import TensorKernels
@testable import LLaVAModel

/// bf16 and Q8_0 decoder weights against the fp32 reference logits of the golden fixtures
/// (Hugging Face transformers in fp32). The bounds are this engine's measured errors with
/// some room, so a kernel that computes the wrong thing (or a silent fp32 fallback that stops
/// rounding) fails them.
@Suite("narrow weight formats stay close to fp32 on the golden fixtures")
struct WeightFormatTests {
    /// (fixture, dtype, bf16 prefill path, max |Δlogit| allowed, greedy tokens must equal the
    /// golden ones). Logits span about −2.4…2.8; measured errors: bf16 0.013 (0.3% of the span),
    /// q8_0 0.033 and 0.047 (about 1%); a BF16 checkpoint kept as BF16 is the fp32 result (1e-6)
    /// when prefill widens it to fp32, and 0.015 / 0.018 (fp32 checkpoint) on AMX, where the
    /// activations are rounded to bf16 too (Q8_0 on AMX, weights as bf16(q · scale) as well: 0.035 and 0.061).
    static let cases: [(String, WeightDType, PrefillKernel, Float, Bool)] = [
        ("llava-tiny-fp32", .bf16, .widen, 0.03, true),
        ("llava-tiny-fp32", .q8_0, .widen, 0.08, true),
        ("llava-tiny-bf16", .bf16, .widen, 1e-4, true),   // stored in BF16: kept as is, same values as fp32
        ("llava-tiny-bf16", .q8_0, .widen, 0.08, true),
    ] + (PrefillKernel.amxAvailable ? [
        ("llava-tiny-fp32", .bf16, .amx, 0.04, true),
        ("llava-tiny-bf16", .bf16, .amx, 0.04, true),
        ("llava-tiny-fp32", .q8_0, .amx, 0.08, true),
        ("llava-tiny-bf16", .q8_0, .amx, 0.08, true),
    ] : [])

    @Test("first-step logits within the documented bound and greedy tokens unchanged", arguments: cases)
    func logitsNearFP32(c: (String, WeightDType, PrefillKernel, Float, Bool)) throws {
        let (fixture, dtype, prefill, bound, sameTokens) = c
        try PrefillKernel.$override.withValue(prefill) { try check(fixture, dtype, prefill, bound, sameTokens) }
    }

    func check(_ fixture: String, _ dtype: WeightDType, _ prefill: PrefillKernel, _ bound: Float, _ sameTokens: Bool) throws {
        let dir = Fixtures.path(fixture)
        let model = try ModelSpec.resolve(dir, dtype: dtype).load()
        #expect(model.language.layers.allSatisfy { $0.dtype == dtype })
        let golden = try SafeTensorsFile(path: "\(dir)/golden.safetensors")
        let ids = try golden.integers("input_ids")
        let pixels = try SafeTensorsFile(path: "\(dir)/pixels.safetensors").tensor("pixel_values")
        let result = try model.generate(prompt: ids, pixels: pixels, options: GenerationOptions(maxNewTokens: 8))
        let want = try golden.tensor("logits")
        let error = zip(result.firstLogits.storage, want.storage).map { abs($0 - $1) }.max() ?? .infinity
        print("\(fixture) \(dtype.rawValue) (\(prefill.rawValue) prefill): max |Δlogit| = \(error) (logit range \(want.storage.min()!)…\(want.storage.max()!))")
        #expect(error <= bound)
        if dtype != .f32 && (fixture == "llava-tiny-fp32" || prefill == .amx) { #expect(error > 0) }   // really rounded
        if sameTokens { #expect(result.tokens == (try golden.integers("generated_ids"))) }
    }
}
