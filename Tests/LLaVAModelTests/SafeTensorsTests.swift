import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

/// Hand-built safetensors bytes and temp files for the safetensors tests.
enum STFixture {
    static let path = "fixture.safetensors"

    /// A fresh empty directory; the caller removes it.
    static func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adallava-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// File bytes: 8-byte little-endian `length` (default: the header's true length), header, data.
    static func raw(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { Array($0) } + h + data
    }

    static func parse(_ bytes: [UInt8]) throws -> (entries: [String: SafeTensorsEntry], metadata: [String: String], dataStart: Int) {
        try bytes.withUnsafeBytes { try SafeTensorsFile.parseHeader($0, path: path) }
    }

    /// The reason of the `invalidSafetensors` error `bytes` must produce (nil, with an issue, otherwise).
    static func rejection(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            _ = try parse(bytes)
            Issue.record("expected invalidSafetensors, but the header parsed", sourceLocation: sourceLocation)
        } catch let LLaVAModelError.invalidSafetensors(p, reason) {
            #expect(p == path, sourceLocation: sourceLocation)
            #expect(LLaVAModelError.invalidSafetensors(path: p, reason: reason).description.contains(path),
                    sourceLocation: sourceLocation)
            return reason
        } catch {
            Issue.record("expected invalidSafetensors, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Data(bytes).write(to: url)
    }

    static func le16(_ values: [UInt16]) -> [UInt8] {
        values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
    }

    static func tensorEntry(_ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        "{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
    }
}

@Suite("safetensors files")
struct SafeTensorsFileTests {
    @Test("F32 tensors, a scalar, an empty tensor and metadata survive a write → read round trip")
    func roundTrip() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        let a = Tensor(shape: [2, 3], storage: [1, -2.5, 3e-8, .greatestFiniteMagnitude, -0.0, 42])
        let scalar = Tensor(shape: [], storage: [7.25])
        let empty = Tensor(shape: [0, 3], storage: [])
        try SafeTensorsWriter.write([("b.weight", a), ("a.scalar", scalar), ("c.empty", empty)], to: path,
                                    metadata: ["format": "pt", "quote\"d": "line\nbreak"])

        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor("b.weight") == a)
        #expect(try file.tensor("a.scalar") == scalar)
        #expect(try file.tensor("c.empty") == empty)
        #expect(file.metadata == ["format": "pt", "quote\"d": "line\nbreak"])
        #expect(Set(file.entries.keys) == ["a.scalar", "b.weight", "c.empty"])
        #expect(file.entries["b.weight"]?.dtype == "F32")
    }

    @Test("the written header is padded with spaces to a multiple of 8 and lists keys in sorted order")
    func writerHeaderLayout() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        try SafeTensorsWriter.write([("zeta", Tensor(shape: [1], storage: [1])), ("alpha", Tensor(shape: [3], storage: [1, 2, 3]))],
                                    to: path, metadata: ["k": "v"])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{\"k\":\"v\"},\"alpha\":"))
        #expect(header.range(of: "alpha")!.lowerBound < header.range(of: "zeta")!.lowerBound)
        #expect(header.trimmingCharacters(in: .whitespaces).hasSuffix("}"))
        #expect(bytes.count == 8 + length + 16)
    }

    @Test("I64 arrays round trip through the writer and integers(_:), next to F32 tensors")
    func integersRoundTrip() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ids.safetensors").path
        let ids = [1, 32000, -1, Int(Int64.max), 0, 29871]
        try SafeTensorsWriter.write([(name: "input_ids", value: .i64(shape: [2, 3], values: ids)),
                                     (name: "x", value: .f32(Tensor(shape: [3], storage: [1, 2, 3])))], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(try file.integers("input_ids") == ids)
        #expect(file.entries["input_ids"]?.shape == [2, 3])
        #expect(file.entries["input_ids"]?.dtype == "I64")
        #expect(try file.tensor("x").storage == [1, 2, 3])
        // Widest dtype first keeps the I64 data 8-byte aligned, as the reference writer does.
        #expect(file.entries["input_ids"]?.byteRange == 0..<48)
    }

    @Test("hand-built I32 arrays are read as integers")
    func int32() throws {
        let values: [Int32] = [5, -7, .max]
        let data = values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("i32.safetensors")
        try STFixture.write(STFixture.raw(header: "{\"ids\":\(STFixture.tensorEntry("I32", [3], 0, 12))}", data: data), to: url)
        #expect(try SafeTensorsFile(path: url.path).integers("ids") == [5, -7, Int(Int32.max)])
    }

    @Test("F16 and BF16 tensors convert to the exact fp32 values, keeping shape")
    func halfPrecision() throws {
        // F16: 1.5, −2.0, 65504 (max), 2^-24 (smallest subnormal), 0, −0, +inf, a normal 2^-14.
        let f16: [UInt16] = [0x3E00, 0xC000, 0x7BFF, 0x0001, 0x0000, 0x8000, 0x7C00, 0x0400]
        let f16Expected: [Float] = [1.5, -2.0, 65504, 0x1p-24, 0, -0.0, .infinity, 0x1p-14]
        // BF16: 1.5, −2.0, 65280, a subnormal, 0, the largest finite, −inf, 1/3 rounded.
        let bf16: [UInt16] = [0x3FC0, 0xC000, 0x477F, 0x0001, 0x0000, 0x7F7F, 0xFF80, 0x3EAB]
        let bf16Expected: [Float] = [1.5, -2.0, 65280, Float(bitPattern: 0x0001_0000), 0,
                                     Float(bitPattern: 0x7F7F_0000), -.infinity, Float(bitPattern: 0x3EAB_0000)]
        // One odd byte first so both tensors start unaligned.
        let header = "{\"h\":\(STFixture.tensorEntry("F16", [2, 4], 1, 17)),\"b\":\(STFixture.tensorEntry("BF16", [4, 2], 17, 33)),\"s\":\(STFixture.tensorEntry("BF16", [], 33, 35))}"
        let bytes = STFixture.raw(header: header, data: [0xAA] + STFixture.le16(f16) + STFixture.le16(bf16) + STFixture.le16([0xC040]))
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("half.safetensors")
        try STFixture.write(bytes, to: url)
        let file = try SafeTensorsFile(path: url.path)

        let h = try file.tensor("h")
        #expect(h.shape == [2, 4])
        #expect(h.storage.map(\.bitPattern) == f16Expected.map(\.bitPattern))
        let b = try file.tensor("b")
        #expect(b.shape == [4, 2])
        #expect(b.storage.map(\.bitPattern) == bf16Expected.map(\.bitPattern))
        #expect(try file.tensor("s") == Tensor(shape: [], storage: [-3.0]))
    }

    #if !(os(macOS) && arch(x86_64))
    @Test("the fp16 table agrees with Float16 on all 65 536 bit patterns")
    func halfTableIsExact() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let got = HalfTable.values[Int(bits)]
            if expected.isNaN ? !got.isNaN : expected.bitPattern != got.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
    #endif

    @Test("a dtype the engine cannot convert is reported as unsupportedDType with file and tensor")
    func unsupportedDType() throws {
        let header = "{\"q\":\(STFixture.tensorEntry("I8", [4], 0, 4)),\"d\":\(STFixture.tensorEntry("F64", [1], 8, 16))}"
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("q.safetensors")
        try STFixture.write(STFixture.raw(header: header, data: [UInt8](repeating: 1, count: 16)), to: url)
        let file = try SafeTensorsFile(path: url.path)
        #expect(throws: LLaVAModelError.unsupportedDType(path: url.path, tensor: "q", dtype: "I8")) { try file.tensor("q") }
        #expect(throws: LLaVAModelError.unsupportedDType(path: url.path, tensor: "d", dtype: "F64")) { try file.tensor("d") }
        #expect(throws: LLaVAModelError.missingTensor(path: url.path, tensor: "nope")) { try file.tensor("nope") }
        let error = #expect(throws: LLaVAModelError.self) { try file.integers("d") }
        #expect(error?.description.contains("F64") == true)
        #expect(error?.description.contains(url.path) == true)
    }

    @Test("a missing file or a directory is reported as unreadable, not as a bad header")
    func unreadable() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("absent.safetensors").path
        let e1 = #expect(throws: LLaVAModelError.self) { try SafeTensorsFile(path: missing) }
        guard case .fileUnreadable(missing, _)? = e1 else { Issue.record("got \(String(describing: e1))"); return }
        let e2 = #expect(throws: LLaVAModelError.self) { try SafeTensorsFile(path: dir.path) }
        guard case .fileUnreadable(dir.path, _)? = e2 else { Issue.record("got \(String(describing: e2))"); return }
    }

    @Test("an empty file on disk is rejected as too short, with its path")
    func emptyFileOnDisk() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("empty.safetensors")
        try STFixture.write([], to: url)
        let error = #expect(throws: LLaVAModelError.self) { try SafeTensorsFile(path: url.path) }
        guard case let .invalidSafetensors(p, reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(p == url.path)
        #expect(reason.contains("0 bytes"))
    }

    @Test("the writer rejects duplicate names and I64 values that do not fill their shape")
    func writerValidation() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.safetensors").path
        let t = Tensor(shape: [1], storage: [1])
        #expect(throws: LLaVAModelError.self) { try SafeTensorsWriter.write([("x", t), ("x", t)], to: path) }
        #expect(throws: LLaVAModelError.self) {
            try SafeTensorsWriter.write([(name: "ids", value: .i64(shape: [2, 2], values: [1, 2, 3]))], to: path)
        }
        #expect(throws: LLaVAModelError.self) { try SafeTensorsWriter.write([("__metadata__", t)], to: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("writing replaces an existing file and leaves no temp file behind")
    func atomicReplace() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        try SafeTensorsWriter.write([("x", Tensor(shape: [1], storage: [1]))], to: path)
        try SafeTensorsWriter.write([("y", Tensor(shape: [2], storage: [2, 3]))], to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["w.safetensors"])
        #expect(Array(try SafeTensorsFile(path: path).entries.keys) == ["y"])
        // A write into a missing directory fails cleanly with the target path.
        let error = #expect(throws: LLaVAModelError.self) {
            try SafeTensorsWriter.write([("x", Tensor(shape: [1], storage: [1]))], to: dir.path + "/no/such/dir/w.safetensors")
        }
        #expect(error?.description.contains("no/such/dir") == true)
    }
}

@Suite("malformed safetensors headers")
struct SafeTensorsMalformedTests {
    static let ok = STFixture.tensorEntry("F32", [2, 3], 0, 24)
    static let data24 = [UInt8](repeating: 0, count: 24)

    @Test("a file shorter than the 8-byte length prefix is rejected with the path")
    func tooShort() {
        #expect(STFixture.rejection([])?.contains("0 bytes") == true)
        #expect(STFixture.rejection([1, 2, 3, 4, 5])?.contains("5 bytes") == true)
    }

    @Test("a header longer than the file is rejected with the path")
    func headerBeyondFile() {
        let bytes = STFixture.raw(header: "{}", data: [UInt8](repeating: 0x20, count: 4086), length: 123_456_789)
        #expect(STFixture.rejection(bytes)?.contains("header length 123456789 exceeds file size 4096") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "{}", length: .max))?.contains("exceeds file size") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "{}", length: 3))?.contains("exceeds file size") == true)
    }

    @Test("a header that is not JSON, or not a JSON object, is rejected")
    func notJSONObject() {
        #expect(STFixture.rejection(STFixture.raw(header: "not json at all"))?.contains("not valid JSON") == true)
        #expect(STFixture.rejection(STFixture.raw(header: ""))?.contains("not valid JSON") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "{\"a\":"))?.contains("not valid JSON") == true)
        #expect(STFixture.rejection([8, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE, 0x7B, 0x7D, 0x80, 0x81, 0xC0, 0x20])?.contains("not valid JSON") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "[1, 2]"))?.contains("found an array") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "42"))?.contains("found a number") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "\"{}\""))?.contains("found a string") == true)
    }

    @Test("deeply nested JSON is rejected before decoding instead of exhausting the stack")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(STFixture.rejection(STFixture.raw(header: deep))?.contains("nests deeper") == true)
        // Brackets inside strings do not count.
        let quoted = "{\"__metadata__\":{\"k\":\"\(String(repeating: "[{", count: 50))\\\"\"}}"
        #expect((try? STFixture.parse(STFixture.raw(header: quoted)))?.metadata["k"] == String(repeating: "[{", count: 50) + "\"")
    }

    @Test("entries missing dtype, shape or data_offsets are rejected, naming the tensor")
    func missingFields() {
        let cases = [
            "{\"w\":{\"shape\":[2,3],\"data_offsets\":[0,24]}}": "'dtype'",
            "{\"w\":{\"dtype\":7,\"shape\":[2,3],\"data_offsets\":[0,24]}}": "'dtype'",
            "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}": "'shape'",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]}}": "'data_offsets'",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0]}}": "'data_offsets'",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24,24]}}": "'data_offsets'",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":\"0-24\"}}": "'data_offsets'",
            "{\"w\":[\"F32\"]}": "must be an object",
        ]
        for (header, fragment) in cases {
            let reason = STFixture.rejection(STFixture.raw(header: header, data: Self.data24))
            #expect(reason?.contains("tensor 'w'") == true, "\(header)")
            #expect(reason?.contains(fragment) == true, "\(header) → \(reason ?? "nil")")
        }
    }

    @Test("shapes with negative, fractional, boolean or out-of-range numbers are rejected")
    func badShapes() {
        for shape in ["[-1,3]", "[2.5,3]", "[true,3]", "[null]", "[\"2\",3]", "[18446744073709551616]", "[[2],3]", "{}"] {
            let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,24]}}"
            #expect(STFixture.rejection(STFixture.raw(header: header, data: Self.data24))?.contains("'shape'") == true, "\(shape)")
        }
    }

    @Test("an unknown dtype is rejected at parse time, listing the known ones")
    func unknownDType() {
        let header = "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"
        let reason = STFixture.rejection(STFixture.raw(header: header, data: Self.data24))
        #expect(reason?.contains("unknown dtype 'Q4_K'") == true)
        #expect(reason?.contains("BF16") == true)
    }

    @Test("data_offsets outside the data section, or reversed, are rejected")
    func offsetsOutOfRange() {
        for offsets in ["[0,25]", "[24,48]", "[30,24]", "[0,9223372036854775807]", "[-8,16]"] {
            let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":\(offsets)}}"
            let reason = STFixture.rejection(STFixture.raw(header: header, data: Self.data24))
            #expect(reason?.contains("tensor 'w'") == true, "\(offsets) → \(reason ?? "nil")")
        }
    }

    @Test("data_offsets that disagree with shape × dtype size are rejected with both sizes")
    func sizeMismatch() {
        let header = "{\"x\":\(STFixture.tensorEntry("F32", [2, 3], 0, 12))}"
        #expect(STFixture.rejection(STFixture.raw(header: header, data: Self.data24))
                == "tensor 'x': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 needs 24")
        let scalar = "{\"s\":\(STFixture.tensorEntry("BF16", [], 0, 4))}"
        #expect(STFixture.rejection(STFixture.raw(header: scalar, data: Self.data24))?.contains("needs 2") == true)
    }

    @Test("shapes whose element or byte count overflows Int are rejected, not trapped on")
    func overflow() {
        let cases = [
            ("F32", "[4611686018427387904,8]"),   // 2^62 × 8 elements
            ("F64", "[2305843009213693952,2]"),   // 2^62 elements fit in Int, their 2^68 bits do not
            ("U8", "[9223372036854775807,9223372036854775807]"),
            ("F4", "[3]"),                         // 12 bits: not a whole number of bytes
        ]
        for (dtype, shape) in cases {
            let header = "{\"w\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[0,24]}}"
            let reason = STFixture.rejection(STFixture.raw(header: header, data: Self.data24))
            #expect(reason?.contains("tensor 'w': shape") == true, "\(shape) → \(reason ?? "nil")")
        }
        // A zero dimension makes the product 0 even next to huge ones.
        let zero = "{\"w\":{\"dtype\":\"F32\",\"shape\":[0,9223372036854775807],\"data_offsets\":[0,0]}}"
        #expect((try? STFixture.parse(STFixture.raw(header: zero)))?.entries["w"]?.elementCount == 0)
    }

    @Test("__metadata__ must be an object of strings")
    func badMetadata() {
        #expect(STFixture.rejection(STFixture.raw(header: "{\"__metadata__\":[1]}"))?.contains("__metadata__") == true)
        #expect(STFixture.rejection(STFixture.raw(header: "{\"__metadata__\":{\"n\":1}}"))?.contains("'n'") == true)
    }

    @Test("a valid header with padding, metadata and unconvertible dtypes parses")
    func validHeader() throws {
        let header = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":\(Self.ok),\"q\":\(STFixture.tensorEntry("F8_E4M3", [4], 24, 28))}   "
        let parsed = try STFixture.parse(STFixture.raw(header: header, data: Self.data24 + [1, 2, 3, 4]))
        #expect(parsed.metadata == ["format": "pt"])
        #expect(parsed.dataStart == 8 + header.utf8.count)
        #expect(parsed.entries["w"] == SafeTensorsEntry(name: "w", dtype: "F32", shape: [2, 3], byteRange: 0..<24, elementCount: 6))
        #expect(parsed.entries["q"]?.byteRange == 24..<28)
    }
}

@Suite("checkpoint directories")
struct CheckpointTests {
    static func t(_ shape: [Int], _ start: Float = 0) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { start + Float($0) })
    }

    static func writeIndex(_ map: [String: String], in dir: URL) throws {
        let json = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map] as [String: Any])
        try json.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    }

    @Test("a sharded checkpoint loads tensors from both shards through index.json")
    func sharded() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors"
        try SafeTensorsWriter.write([("language_model.model.embed_tokens.weight", Self.t([4, 2])),
                                     ("language_model.model.norm.weight", Self.t([2], 10))],
                                    to: dir.appendingPathComponent(s1).path)
        try SafeTensorsWriter.write([("language_model.lm_head.weight", Self.t([4, 2], 100)),
                                     ("stray.not.in.index", Self.t([1]))],
                                    to: dir.appendingPathComponent(s2).path)
        try Self.writeIndex(["language_model.model.embed_tokens.weight": s1, "language_model.model.norm.weight": s1,
                             "language_model.lm_head.weight": s2], in: dir)

        let ckpt = try CheckpointWeights(directory: dir.path)
        #expect(ckpt.indexPath == dir.appendingPathComponent("model.safetensors.index.json").path)
        #expect(ckpt.storedNames == ["language_model.lm_head.weight", "language_model.model.embed_tokens.weight",
                                     "language_model.model.norm.weight"])
        #expect(try ckpt.tensor("language_model.model.norm.weight", shape: [2]) == Self.t([2], 10))
        #expect(try ckpt.tensor("language_model.lm_head.weight", shape: [4, 2]) == Self.t([4, 2], 100))
        #expect(ckpt.shape(of: "language_model.model.embed_tokens.weight") == [4, 2])

        let missing = #expect(throws: LLaVAModelError.self) { try ckpt.tensor("language_model.model.layers.0.mlp.up_proj.weight", shape: [1]) }
        #expect(missing == .missingTensor(path: ckpt.indexPath!, tensor: "language_model.model.layers.0.mlp.up_proj.weight"))
        let mismatch = #expect(throws: LLaVAModelError.self) { try ckpt.tensor("language_model.lm_head.weight", shape: [2, 4]) }
        #expect(mismatch == .shapeMismatch(path: dir.appendingPathComponent(s2).path, tensor: "language_model.lm_head.weight",
                                           expected: [2, 4], found: [4, 2]))
    }

    @Test("an index naming a missing shard, or a tensor its shard lacks, is rejected naming both files")
    func badIndex() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = dir.appendingPathComponent("model.safetensors.index.json").path
        try SafeTensorsWriter.write([("a", Self.t([1]))], to: dir.appendingPathComponent("s1.safetensors").path)

        try Self.writeIndex(["a": "s1.safetensors", "b": "s2.safetensors"], in: dir)
        let e1 = #expect(throws: LLaVAModelError.self) { try CheckpointWeights(directory: dir.path) }
        #expect(e1?.description.contains("s2.safetensors") == true)
        #expect(e1?.description.contains(index) == true)

        try Self.writeIndex(["a": "s1.safetensors", "ghost": "s1.safetensors"], in: dir)
        let e2 = #expect(throws: LLaVAModelError.self) { try CheckpointWeights(directory: dir.path) }
        #expect(e2?.description.contains(index) == true)
        #expect(e2?.description.contains("s1.safetensors") == true)
        #expect(e2?.description.contains("'ghost'") == true)

        try Data("{\"weight_map\": [1]}".utf8).write(to: URL(fileURLWithPath: index))
        let e3 = #expect(throws: LLaVAModelError.self) { try CheckpointWeights(directory: dir.path) }
        #expect(e3?.description.contains("weight_map") == true)
    }

    @Test("legacy llava-hf names resolve to themselves")
    func legacyLayout() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["language_model.model.layers.0.self_attn.q_proj.weight", "language_model.lm_head.weight",
                     "vision_tower.vision_model.embeddings.patch_embedding.weight", "multi_modal_projector.linear_1.weight"]
        try SafeTensorsWriter.write(names.map { ($0, Self.t([2])) }, to: dir.appendingPathComponent("model.safetensors").path)
        let ckpt = try CheckpointWeights(directory: dir.path)
        #expect(ckpt.indexPath == nil)
        for name in names {
            #expect(ckpt.resolve(name) == name)
            #expect(try ckpt.tensor(name, shape: [2]) == Self.t([2]))
        }
        #expect(!ckpt.contains("language_model.model.norm.weight"))
        #expect(throws: LLaVAModelError.missingTensor(path: dir.path, tensor: "language_model.model.norm.weight")) {
            try ckpt.tensor("language_model.model.norm.weight", shape: [2])
        }
    }

    @Test("canonical names resolve to the modern model.* layout and to vision towers without vision_model")
    func modernLayout() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let stored = [
            "language_model.model.layers.0.self_attn.q_proj.weight": "model.language_model.layers.0.self_attn.q_proj.weight",
            "language_model.lm_head.weight": "lm_head.weight",
            "vision_tower.vision_model.embeddings.patch_embedding.weight": "model.vision_tower.vision_model.embeddings.patch_embedding.weight",
            "vision_tower.vision_model.pre_layrnorm.weight": "vision_tower.pre_layrnorm.weight",
            "vision_tower.vision_model.post_layernorm.weight": "model.vision_tower.post_layernorm.weight",
            "multi_modal_projector.linear_1.weight": "model.multi_modal_projector.linear_1.weight",
        ]
        // An odd file name: the only *.safetensors in the directory is used.
        try SafeTensorsWriter.write(stored.values.map { ($0, Self.t([3], 1)) }, to: dir.appendingPathComponent("weights.safetensors").path)
        let ckpt = try CheckpointWeights(directory: dir.path)
        for (canonical, key) in stored {
            #expect(ckpt.resolve(canonical) == key)
            #expect(ckpt.contains(canonical))
            #expect(try ckpt.tensor(canonical, shape: [3]) == Self.t([3], 1))
        }
        // The table is symmetric: a modern name finds a legacy key too (here, itself).
        #expect(ckpt.resolve("model.language_model.layers.0.self_attn.q_proj.weight") == "model.language_model.layers.0.self_attn.q_proj.weight")
        let mismatch = #expect(throws: LLaVAModelError.self) { try ckpt.tensor("language_model.lm_head.weight", shape: [4]) }
        #expect(mismatch == .shapeMismatch(path: dir.appendingPathComponent("weights.safetensors").path,
                                           tensor: "lm_head.weight", expected: [4], found: [3]))
    }

    @Test("a directory with no weights, several unindexed files, or that is not a directory is rejected")
    func noWeights() throws {
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: LLaVAModelError.fileUnreadable(path: dir.path, reason: "no model.safetensors or model.safetensors.index.json")) {
            try CheckpointWeights(directory: dir.path)
        }
        try SafeTensorsWriter.write([("a", Self.t([1]))], to: dir.appendingPathComponent("a.safetensors").path)
        try SafeTensorsWriter.write([("b", Self.t([1]))], to: dir.appendingPathComponent("b.safetensors").path)
        let e = #expect(throws: LLaVAModelError.self) { try CheckpointWeights(directory: dir.path) }
        #expect(e?.description.contains("a.safetensors, b.safetensors") == true)
        let file = dir.appendingPathComponent("a.safetensors").path
        #expect(throws: LLaVAModelError.fileUnreadable(path: file, reason: "not a directory")) {
            try CheckpointWeights(directory: file)
        }
    }
}
