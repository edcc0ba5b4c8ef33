import Foundation
import Testing
import LLaVAModel

/// Runs the built `adallava` binary the way a user types it.
struct CLI {
    /// `.build/<config>/adallava`, next to this test bundle.
    static let binary: URL = {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("adallava"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("adallava"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("adallava"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/adallava"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }()

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures").path

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A fresh temporary directory.
    static func tempDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adallava-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}

@Suite("the adallava binary, run as a user would", .serialized)
struct CLITests {
    @Test("ADALLAVA_PREFILL_KERNEL: a bad value exits 2 with a message; widen shows in the provenance")
    func prefillKernelEnvironment() throws {
        let bad = try CLI.run(["run", "--model", "tiny", "--tokens", "1,2,3"], environment: ["ADALLAVA_PREFILL_KERNEL": "fast"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("ADALLAVA_PREFILL_KERNEL='fast' is not one of widen, amx, auto"))
        #expect(!bad.stderr.contains("Fatal error"))
        let widen = try CLI.run(["run", "--model", "tiny", "--dtype", "bf16", "--tokens", "1,2,3", "--max-new-tokens", "2", "--json"],
                                environment: ["ADALLAVA_PREFILL_KERNEL": "widen"])
        #expect(widen.status == 0, "\(widen.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(widen.stdout.utf8)) as? [String: Any])
        let blas = (json["provenance"] as? [String: Any])?["blas"] as? String
        #expect(blas?.hasSuffix("bf16/q8_0 prefill: widen") == true, "\(blas ?? "no provenance.blas")")
    }

    @Test("run --model tiny --json prints generated ids and per-phase timings")
    func runTinyJSON() throws {
        let r = try CLI.run(["run", "--model", "tiny", "--tokens", "1,2,3", "--max-new-tokens", "8", "--json", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["generated_ids"] as? [Int])?.count == 8)
        #expect(json["prompt_tokens"] as? Int == 3)
        let timings = try #require(json["timings"] as? [String: Double])
        for key in ["vision_ms", "projector_ms", "prefill_ms", "decode_ms", "time_to_first_token_ms"] {
            #expect(timings[key] != nil, "missing \(key)")
        }
        #expect(timings["prefill_ms"]! > 0)
    }

    @Test("run --dtype bf16 and q8_0 generate on the tiny preset and say which format ran", arguments: ["bf16", "q8_0"])
    func runNarrowWeights(dtype: String) throws {
        let r = try CLI.run(["run", "--model", "tiny", "--dtype", dtype, "--tokens", "1,2,3", "--max-new-tokens", "4", "--json", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["dtype"] as? String == dtype)
        #expect((json["generated_ids"] as? [Int])?.count == 4)
    }

    @Test("bench block --dtype gives one decode row per format, each with a bandwidth ratio")
    func benchBlockDtypes() throws {
        let r = try CLI.run(["bench", "block", "--shape", "tiny", "--dtype", "f32,bf16,q8_0", "--tokens", "4", "--contexts", "8",
                             "--threads-list", "1", "--repeats", "1", "--stream-megabytes", "8", "--no-vision", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        let decode = rows.filter { $0["phase"] as? String == "decode" }
        #expect(decode.compactMap { $0["dtype"] as? String } == ["f32", "bf16", "q8_0"])
        #expect(decode.allSatisfy { ($0["bandwidth_ratio"] as? Double ?? 0) > 0 })
        // Which prefill kernel ran is in the provenance, and said on stderr when it is AMX.
        let blas = (json["provenance"] as? [String: Any])?["blas"] as? String ?? ""
        #expect(blas.hasSuffix("bf16/q8_0 prefill: amx") || blas.hasSuffix("bf16/q8_0 prefill: widen"), "\(blas)")
        #expect(r.stderr.contains("prefill run on AMX tiles") == blas.hasSuffix("prefill: amx"), "\(r.stderr)")
    }

    @Test("the human report names the model and every phase")
    func runTinyTable() throws {
        let r = try CLI.run(["run", "--model", "tiny", "--tokens", "1,2,3", "--max-new-tokens", "2", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        for word in ["generated ids", "time to first", "vision", "projector", "prefill", "decode", "threads          1"] {
            #expect(r.stdout.contains(word), "missing '\(word)' in:\n\(r.stdout)")
        }
    }

    @Test("a golden checkpoint with --pixels reproduces the reference tokens, and --dump-logits writes its logits",
          arguments: ["llava-tiny-fp32", "llava-tiny-bf16"])
    func goldenThroughCLI(fixture: String) throws {
        let dir = "\(CLI.fixtures)/\(fixture)"
        let tokens = try String(contentsOfFile: "\(dir)/input_ids.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let dump = "\(try CLI.tempDirectory())/logits.safetensors"
        let r = try CLI.run(["run", "--model", dir, "--tokens", tokens, "--pixels", "\(dir)/pixels.safetensors",
                             "--max-new-tokens", "8", "--json", "--dump-logits", dump])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let golden = try SafeTensorsFile(path: "\(dir)/golden.safetensors")
        #expect(json["generated_ids"] as? [Int] == (try golden.integers("generated_ids")))
        #expect(json["image_tokens"] as? Int == 16)
        let logits = try SafeTensorsFile(path: dump).tensor("logits")
        let expected = try golden.tensor("logits")
        #expect(logits.shape == [512])
        #expect(zip(logits.storage, expected.storage).map { abs($0 - $1) }.max()! <= 1e-4)
    }

    @Test("the README's main command runs an image prompt with synthetic pixels and reports provenance")
    func syntheticPixels() throws {
        let r = try CLI.run(["run", "--model", "tiny", "--tokens", "1,1000,2,3", "--pixels", "synthetic", "--max-new-tokens", "8", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["image_tokens"] as? Int == 16)
        #expect(json["prompt_tokens"] as? Int == 19)
        let timings = try #require(json["timings"] as? [String: Double])
        #expect(timings["vision_ms"]! > 0 && timings["projector_ms"]! > 0)
        let provenance = try #require(json["provenance"] as? [String: Any])
        for key in ["cpu_model", "cores", "blas", "threads", "engine_commit", "build", "command"] {
            #expect(provenance[key] != nil, "missing provenance.\(key)")
        }
        #expect((provenance["blas"] as? String)?.contains("OpenBLAS") == true)
    }

    @Test("bench prints one schema as JSON and as CSV, sgemm yardstick beside each prefill")
    func benchFormats() throws {
        let args = ["bench", "--model", "tiny", "--prompt-tokens", "8", "--threads-list", "1,2", "--repeats", "1"]
        let j = try CLI.run(args + ["--json"])
        #expect(j.status == 0, "\(j.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["what"] as? String } == ["sgemm", "prefill", "sgemm", "prefill"])
        #expect(rows.map { $0["threads"] as? Int } == [1, 1, 2, 2])
        #expect(rows.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 })
        #expect(j.stderr.contains("prefill 1/1"))

        let c = try CLI.run(args + ["--csv"])
        #expect(c.status == 0, "\(c.stderr)")
        let lines = c.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.first == "model,what,tokens,threads,repeats,median_ms,min_ms,max_ms,gflops,sgemm_gflops,ratio_to_sgemm")
        #expect(lines.count == 5)
        #expect(c.stdout.hasPrefix("# cpu: "))
    }

    @Test("--help reads like a man page and exits 0", arguments: [["--help"], ["run", "--help"], ["bench", "--help"]])
    func help(arguments: [String]) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE"))
    }
}

/// Every kind of bad input gives one `error:` line naming the culprit and exit status 2.
@Suite("bad input to the binary fails cleanly with status 2", .serialized)
struct CLIBadInputTests {
    func expectFailure(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 2, "status \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions {
            #expect(r.stderr.contains(m), "'\(m)' not in: \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!r.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    /// A copy of the fp32 fixture whose files a test may break.
    func brokenCopy(_ edit: (String) throws -> Void) throws -> String {
        let dir = "\(try CLI.tempDirectory())/model"
        try FileManager.default.copyItem(atPath: "\(CLI.fixtures)/llava-tiny-fp32", toPath: dir)
        try edit(dir)
        return dir
    }

    @Test("a directory without config.json")
    func missingConfig() throws {
        let dir = try brokenCopy { try FileManager.default.removeItem(atPath: "\($0)/config.json") }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["\(dir)/config.json", "no such file"])
    }

    @Test("a garbled config.json")
    func garbledConfig() throws {
        let dir = try brokenCopy { try Data("{\"model_type\": \"llava\", ".utf8).write(to: URL(fileURLWithPath: "\($0)/config.json")) }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["config.json", "not valid JSON"])
    }

    @Test("an unknown model_type")
    func unknownModelType() throws {
        let dir = try brokenCopy { d in
            let text = try String(contentsOfFile: "\(d)/config.json", encoding: .utf8)
                .replacingOccurrences(of: "\"model_type\": \"llava\"", with: "\"model_type\": \"qwen2_vl\"")
            try text.write(toFile: "\(d)/config.json", atomically: true, encoding: .utf8)
        }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["model_type", "qwen2_vl"])
    }

    @Test("a truncated safetensors file")
    func truncatedWeights() throws {
        let dir = try brokenCopy { d in
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(d)/model.safetensors"))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: "\(d)/model.safetensors"))
        }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["model.safetensors"])
    }

    @Test("a shape mismatch between config and tensors")
    func shapeMismatch() throws {
        let dir = try brokenCopy { d in
            let text = try String(contentsOfFile: "\(d)/config.json", encoding: .utf8)
                .replacingOccurrences(of: "\"intermediate_size\": 128", with: "\"intermediate_size\": 96")
            try text.write(toFile: "\(d)/config.json", atomically: true, encoding: .utf8)
        }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["model.safetensors", "mlp", "expected [96, 64]"])
    }

    @Test("a missing tensor")
    func missingTensor() throws {
        let source = try SafeTensorsFile(path: "\(CLI.fixtures)/llava-tiny-fp32/model.safetensors")
        let dir = try brokenCopy { d in
            let kept = try source.entries.keys.sorted().filter { !$0.contains("norm.weight") || $0.contains("layers") }
                .map { (name: $0, tensor: try source.tensor($0)) }
            try SafeTensorsWriter.write(kept, to: "\(d)/model.safetensors")
        }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["missing tensor", "norm.weight"])
    }

    @Test("a token id out of range")
    func tokenOutOfRange() throws {
        try expectFailure(["run", "--model", "tiny", "--tokens", "1,99999"], mentions: ["99999", "vocab_size"])
    }

    @Test("a token list that is not integers")
    func tokensNotIntegers() throws {
        try expectFailure(["run", "--model", "tiny", "--tokens", "1,x,3"], mentions: ["--tokens", "'x'"])
    }

    @Test("pixels of the wrong shape")
    func wrongPixels() throws {
        let dir = "\(CLI.fixtures)/llava-tiny-fp32"
        let path = "\(try CLI.tempDirectory())/pixels.safetensors"
        try SafeTensorsWriter.write([(name: "pixel_values", tensor: .init(zeros: [1, 3, 14, 14]))], to: path)
        try expectFailure(["run", "--model", dir, "--tokens", "1,510,2", "--pixels", path],
                          mentions: [path, "pixel_values", "expected [1, 3, 28, 28]"])
    }

    @Test("pixels stored in a dtype the engine cannot convert")
    func wrongDtypePixels() throws {
        let path = "\(try CLI.tempDirectory())/pixels.safetensors"
        try SafeTensorsWriter.write([(name: "pixel_values", value: .i64(shape: [1, 3, 28, 28], values: Array(repeating: 0, count: 3 * 28 * 28)))], to: path)
        try expectFailure(["run", "--model", "\(CLI.fixtures)/llava-tiny-fp32", "--tokens", "1,510,2", "--pixels", path],
                          mentions: [path, "pixel_values", "I64"])
    }

    @Test("weights stored in a dtype the engine cannot convert")
    func wrongDtypeWeights() throws {
        let source = try SafeTensorsFile(path: "\(CLI.fixtures)/llava-tiny-fp32/model.safetensors")
        let dir = try brokenCopy { d in
            let values: [(name: String, value: SafeTensorsWriter.Value)] = try source.entries.keys.sorted().map { name in
                let t = try source.tensor(name)
                return name.hasSuffix("embed_tokens.weight")
                    ? (name: name, value: .i64(shape: t.shape, values: t.storage.map { Int($0 * 100) }))
                    : (name: name, value: .f32(t))
            }
            try SafeTensorsWriter.write(values, to: "\(d)/model.safetensors")
        }
        try expectFailure(["run", "--model", dir, "--tokens", "1,2"], mentions: ["model.safetensors", "embed_tokens", "I64"])
    }

    @Test("a --dump-logits path that cannot be written")
    func unwritableDump() throws {
        try expectFailure(["run", "--model", "tiny", "--tokens", "1,2", "--max-new-tokens", "1", "--dump-logits", "/nonexistent-dir/logits.safetensors"],
                          mentions: ["/nonexistent-dir/logits.safetensors", "cannot write file"])
    }

    @Test("a pixels file without pixel_values")
    func pixelsWithoutTensor() throws {
        let path = "\(try CLI.tempDirectory())/pixels.safetensors"
        try SafeTensorsWriter.write([(name: "image", tensor: .init(zeros: [1, 3, 28, 28]))], to: path)
        try expectFailure(["run", "--model", "\(CLI.fixtures)/llava-tiny-fp32", "--tokens", "1,510,2", "--pixels", path],
                          mentions: [path, "pixel_values"])
    }

    @Test("an unknown model name lists the presets")
    func unknownModel() throws {
        try expectFailure(["run", "--model", "llava-99b", "--tokens", "1"], mentions: ["llava-99b", "tinyllava-1.1b"])
    }

    @Test("a 7B end-to-end run is refused with a clear message, not an OOM")
    func sevenBDoesNotFit() throws {
        try expectFailure(["run", "--model", "llava-1.5-7b", "--tokens", "1,2,3"],
                          mentions: ["llava-1.5-7b needs", "GiB", "one block at a time"])
    }

    @Test("invalid option values are usage errors with status 2")
    func usageErrors() throws {
        try expectFailure(["run", "--model", "tiny", "--tokens", "1", "--threads", "0"], mentions: ["--threads"])
        try expectFailure(["run", "--model", "tiny", "--tokens", "1", "--max-new-tokens", "0"], mentions: ["--max-new-tokens"])
        try expectFailure(["run", "--model", "tiny"], mentions: ["--tokens"])
        try expectFailure(["bench", "--model", "tiny", "--threads-list", "1,0"], mentions: ["--threads-list"])
        try expectFailure(["bench", "--model", "tiny", "--repeats", "0"], mentions: ["--repeats"])
        try expectFailure(["run", "--model", "tiny", "--tokens", "1", "--dtype", "f16"], mentions: ["--dtype", "f16"])
        try expectFailure(["bench", "block", "--shape", "tiny", "--dtype", "f32,int4"], mentions: ["--dtype", "int4"])
    }
}
