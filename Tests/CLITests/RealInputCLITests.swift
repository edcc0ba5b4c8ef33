import Foundation
import Testing
import LLaVAModel

/// Real inputs through the binary: a picture and a question instead of ids and tensors.
@Suite("images, prompts and tokenizers through the binary", .serialized)
struct RealInputCLITests {
    static let tokenizerDir = "\(CLI.fixtures)/tokenizers/llama-legacy"
    static let images = "\(CLI.fixtures)/images"

    /// A processor directory: the fixture tokenizer beside the 56-px CLIP preprocessor config
    /// (the `tiny` preset's image size).
    func processorDirectory() throws -> String {
        let dir = try CLI.tempDirectory()
        let fm = FileManager.default
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try fm.copyItem(atPath: "\(Self.tokenizerDir)/\(name)", toPath: "\(dir)/\(name)")
        }
        try fm.copyItem(atPath: "\(Self.images)/configs/clip56/preprocessor_config.json", toPath: "\(dir)/preprocessor_config.json")
        return dir
    }

    @Test("run --image --prompt tokenizes the LLaVA-1.5 template, preprocesses the picture and decodes the answer")
    func runWithImageAndPrompt() throws {
        let dir = try processorDirectory()
        let r = try CLI.run(["run", "--model", "tiny", "--processor", dir, "--image", "\(Self.images)/scene_211x149.jpg",
                             "--prompt", "What is shown?", "--max-new-tokens", "4", "--ignore-eos", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["image_tokens"] as? Int == 16)
        #expect((json["generated_ids"] as? [Int])?.count == 4)
        #expect(json["text"] is String)
        #expect((json["prompt_template"] as? String)?.contains("llava-1.5") == true)
        // The prompt is the template's tokens with <image> expanded to 16 features.
        let t = try CLI.run(["tokenize", "--model", dir, "--json", "USER: <image>\nWhat is shown? ASSISTANT:"])
        let ids = try #require((try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])?["ids"] as? [Int])
        #expect(json["prompt_tokens"] as? Int == ids.count - 1 + 16)
    }

    @Test("without --json the answer streams before the report")
    func streams() throws {
        let dir = try processorDirectory()
        let r = try CLI.run(["run", "--model", "tiny", "--processor", dir, "--image", "\(Self.images)/scene_rgba_173x97.png",
                             "--prompt", "Describe it.", "--max-new-tokens", "3", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        let reportStart = try #require(r.stdout.range(of: "model            tiny"))
        #expect(r.stdout[..<reportStart.lowerBound].hasSuffix("\n\n"))
        #expect(r.stdout.contains("template         "))
    }

    @Test("tokenize --json gives the ids Hugging Face gives")
    func tokenizeMatchesFixture() throws {
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(Self.tokenizerDir)/cases.json"))) as? [String: Any])
        let list = try #require(cases["cases"] as? [[String: Any]])
        let sample = try #require(list.first { ($0["text"] as? String)?.contains("<image>") == true })
        let text = try #require(sample["text"] as? String)
        let r = try CLI.run(["tokenize", "--model", Self.tokenizerDir, "--json", text])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["ids"] as? [Int] == sample["ids"] as? [Int])
    }

    @Test("preprocess writes exactly the pixels Hugging Face's CLIPImageProcessor makes")
    func preprocessMatchesFixture() throws {
        let out = "\(try CLI.tempDirectory())/pixels.safetensors"
        let r = try CLI.run(["preprocess", "--model", "\(Self.images)/configs/clip56", "--image", "\(Self.images)/scene_211x149.jpg", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let pixels = try SafeTensorsFile(path: out).tensor("pixel_values")
        #expect(pixels.shape == [1, 3, 56, 56])
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.images)/expected/jpg_clip56.f32"))
        let expected = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(expected.count == pixels.count)
        #expect(zip(pixels.storage, expected).map { abs($0 - $1) }.max()! <= 1e-5)
    }

    @Test("bad real inputs fail with one error line and status 2",
          arguments: [
            (["run", "--model", "tiny", "--prompt", "hi"], "--processor"),
            (["run", "--model", "tiny", "--processor", "/nonexistent", "--prompt", "hi"], "/nonexistent"),
            (["preprocess", "--model", "\(RealInputCLITests.images)/configs/clip56", "--image", "/nonexistent.jpg", "--out", "/tmp/x.safetensors"], "/nonexistent.jpg"),
            (["preprocess", "--model", "\(RealInputCLITests.images)/configs/clip56", "--image", "\(RealInputCLITests.images)/manifest.json", "--out", "/tmp/x.safetensors"], "manifest.json"),
            (["tokenize", "--model", "/nonexistent", "hi"], "/nonexistent"),
            (["run", "--model", "tiny", "--tokens", "1", "--prompt", "hi"], "not both"),
          ])
    func badRealInput(arguments: [String], mention: String) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 2, "status \(r.status): \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: "), "\(r.stderr)")
        #expect(r.stderr.contains(mention), "'\(mention)' not in \(r.stderr)")
    }
}
