import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel


/// Feeds generated files to `parseHeader` and checks the outcome: either a header whose every
/// entry lies inside the data section, or `invalidSafetensors` naming the path — nothing else.
struct HeaderFuzzer {
    var rng: SplitMix64
    var parsed = 0, rejected = 0
    /// Successfully parsed inputs, kept to open as real files afterwards.
    var accepted: [[UInt8]] = []

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// A valid file with several dtypes, metadata, a scalar and an empty tensor.
    static let seedFile: [UInt8] = {
        let header = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"a\":\(STFixture.tensorEntry("F32", [2, 2], 0, 16)),"
            + "\"b\":\(STFixture.tensorEntry("BF16", [3], 16, 22)),"
            + "\"c\":\(STFixture.tensorEntry("I64", [], 22, 30)),"
            + "\"d\":\(STFixture.tensorEntry("F16", [0, 4], 30, 30)),"
            + "\"e\":\(STFixture.tensorEntry("F16", [1, 1], 30, 32))}  "
        return STFixture.raw(header: header, data: (0..<32).map { UInt8($0 * 7 & 0xFF) })
    }()

    mutating func check(_ bytes: [UInt8]) {
        do {
            let result = try STFixture.parse(bytes)
            parsed += 1
            #expect(result.dataStart >= 8 && result.dataStart <= bytes.count)
            for entry in result.entries.values {
                #expect(entry.byteRange.upperBound <= bytes.count - result.dataStart)
            }
            if accepted.count < 60 { accepted.append(bytes) }
        } catch let LLaVAModelError.invalidSafetensors(path, reason) {
            rejected += 1
            #expect(path == STFixture.path)
            #expect(!reason.isEmpty)
        } catch {
            Issue.record("parseHeader threw something other than invalidSafetensors: \(error)")
        }
    }

    mutating func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    mutating func pick<T>(_ options: [T]) -> T { options[Int.random(in: 0..<options.count, using: &rng)] }

    /// A JSON-ish number: valid, negative, huge, fractional, overflowing, or not a number.
    mutating func number() -> String {
        pick(["0", "1", "2", "3", "4", "8", "16", "24", "32", "-1", "1.5", "1e3", "4611686018427387904",
              "9223372036854775807", "9223372036854775808", "18446744073709551616", "true", "null", "\"7\"", "[]",
              String(Int.random(in: 0...64, using: &rng)), String(Int.random(in: -5 ... .max, using: &rng))])
    }

    /// A well-formed entry of up to 8 bytes, so parsed files also contain convertible tensors.
    mutating func consistentEntry() -> String {
        let (dtype, size) = pick([("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4)])
        let shape: [Int] = pick([[], [1], [2], [1, 2], [2, 1, 1], [0, 3]])
        let bytes = shape.reduce(1, *) * size
        guard bytes <= 8 else { return STFixture.tensorEntry(dtype, [1], 0, size) }
        let begin = Int.random(in: 0...(8 - bytes), using: &rng)
        return STFixture.tensorEntry(dtype, shape, begin, begin + bytes)
    }

    /// A random tensor entry built from plausible and implausible parts.
    mutating func entry() -> String {
        if Int.random(in: 0..<3, using: &rng) == 0 { return consistentEntry() }
        var fields: [String] = []
        if Int.random(in: 0..<10, using: &rng) > 0 {
            fields.append("\"dtype\":" + pick(["\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"U8\"", "\"F4\"", "\"F8_E5M2\"", "\"Q8\"", "\"\"", "1", "null"]))
        }
        if Int.random(in: 0..<10, using: &rng) > 0 {
            let dims = (0..<Int.random(in: 0...4, using: &rng)).map { _ in number() }
            fields.append("\"shape\":[\(dims.joined(separator: ","))]")
        }
        if Int.random(in: 0..<10, using: &rng) > 0 {
            let offsets = (0..<pick([2, 2, 2, 1, 3])).map { _ in number() }
            fields.append("\"data_offsets\":[\(offsets.joined(separator: ","))]")
        }
        if Int.random(in: 0..<5, using: &rng) == 0 { fields.append("\"extra\":{\"x\":[1,{}]}") }
        return "{\(fields.shuffled(using: &rng).joined(separator: ","))}"
    }

    /// A header of random entries, sometimes with metadata, sometimes cut short or spliced.
    mutating func randomJSON() -> String {
        var parts: [String] = []
        for i in 0..<Int.random(in: 0...4, using: &rng) {
            parts.append("\"t\(i)\":" + (Int.random(in: 0..<8, using: &rng) == 0 ? pick(["1", "[]", "\"s\"", "null"]) : entry()))
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            parts.append("\"__metadata__\":" + pick(["{\"k\":\"v\"}", "{\"k\":1}", "[]", "\"m\"", "{}"]))
        }
        var json = "{\(parts.joined(separator: ","))}"
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: json = String(json.prefix(Int.random(in: 0...json.count, using: &rng)))
        case 1:
            let at = json.index(json.startIndex, offsetBy: Int.random(in: 0...json.count, using: &rng))
            json.insert(contentsOf: pick(["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u00", "\u{0}", "é", "[[[[[[[[[[", "NaN"]), at: at)
        default: break
        }
        return json
    }
}

@Suite("safetensors header fuzzing")
struct SafeTensorsFuzzTests {
    @Test("random bytes never crash the parser")
    func randomBytes() {
        var fuzz = HeaderFuzzer(seed: 1)
        for i in 0..<400 {
            var bytes = fuzz.randomBytes(Int.random(in: 0...200, using: &fuzz.rng))
            if i % 2 == 0 && bytes.count >= 8 {
                // A plausible length so the random tail actually reaches the JSON decoder.
                let length = UInt64.random(in: 0...UInt64(bytes.count - 8), using: &fuzz.rng)
                withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            }
            fuzz.check(bytes)
        }
        #expect(fuzz.rejected > 350)
    }

    @Test("bit flips and truncations of a valid file never crash the parser")
    func mutations() {
        var fuzz = HeaderFuzzer(seed: 2)
        let seed = HeaderFuzzer.seedFile
        fuzz.check(seed)
        #expect(fuzz.parsed == 1, "the seed file itself must be valid")
        for _ in 0..<400 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...8, using: &fuzz.rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &fuzz.rng)] ^= 1 << UInt8.random(in: 0..<8, using: &fuzz.rng)
            }
            fuzz.check(bytes)
        }
        for _ in 0..<300 {
            fuzz.check(Array(seed.prefix(Int.random(in: 0..<seed.count, using: &fuzz.rng))))
        }
        #expect(fuzz.parsed > 1, "some mutations should land in data bytes and still parse")
        #expect(fuzz.rejected > 300)
    }

    @Test("random header lengths on a valid file never crash the parser")
    func headerLengths() {
        var fuzz = HeaderFuzzer(seed: 3)
        var bytes = HeaderFuzzer.seedFile
        let trueLength = Int(bytes[0]) | Int(bytes[1]) << 8
        for i in 0..<300 {
            let length: UInt64 = switch i % 3 {
            case 0: UInt64.random(in: 0 ... .max, using: &fuzz.rng)
            case 1: UInt64(max(0, trueLength + Int.random(in: -16...16, using: &fuzz.rng)))
            default: UInt64.random(in: 0...UInt64(bytes.count), using: &fuzz.rng)
            }
            withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            fuzz.check(bytes)
        }
        #expect(fuzz.rejected > 250)
    }

    @Test("random JSON headers never crash the parser, and whatever parses can be read")
    func randomHeaders() throws {
        var fuzz = HeaderFuzzer(seed: 4)
        for _ in 0..<1000 {
            let json = fuzz.randomJSON()
            let data = fuzz.randomBytes(fuzz.pick([0, 8, 8, 16, 24, 32, 64]))
            fuzz.check(STFixture.raw(header: json, data: data))
        }
        #expect(fuzz.parsed > 20, "the generator should also produce valid headers")
        #expect(fuzz.rejected > 500)

        // Open what parsed as real files: conversion must succeed or fail with a model error.
        let dir = try STFixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var converted = 0
        for (i, bytes) in fuzz.accepted.enumerated() {
            let url = dir.appendingPathComponent("f\(i).safetensors")
            try STFixture.write(bytes, to: url)
            let file = try SafeTensorsFile(path: url.path)
            for (name, entry) in file.entries {
                do {
                    let t = try file.tensor(name)
                    #expect(t.shape == entry.shape)
                    converted += 1
                } catch is LLaVAModelError {
                } catch { Issue.record("tensor(\(name)) threw \(error)") }
                do {
                    #expect(try file.integers(name).count == entry.elementCount)
                } catch is LLaVAModelError {
                } catch { Issue.record("integers(\(name)) threw \(error)") }
            }
        }
        #expect(converted > 0, "some fuzzed float tensors should convert")
    }
}
