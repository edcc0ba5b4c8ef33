import Foundation
import TensorKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor's header record in a safetensors file.
public struct SafeTensorsEntry: Sendable, Equatable {
    /// The key in the header, e.g. `language_model.model.norm.weight`.
    public let name: String
    /// The safetensors dtype string as stored, e.g. `F32`, `BF16`, `I64`.
    public let dtype: String
    /// Dimensions, outermost first; `[]` for a 0-d scalar.
    public let shape: [Int]
    /// Where the tensor's bytes live, relative to the start of the data section.
    public let byteRange: Range<Int>
    /// Number of elements (`shape` product, 1 for a scalar); known not to overflow.
    public let elementCount: Int
}

/// A read-only, memory-mapped safetensors file.
///
/// Opening maps the file and parses and validates the header; tensor bytes are touched only
/// when `tensor(_:)` or `integers(_:)` converts them, so opening a multi-GB shard is cheap.
/// Immutable after `init`, hence safe to share between threads. As with any mapping, the file
/// must not be truncated while open (reads past its new end would fault).
public final class SafeTensorsFile: @unchecked Sendable {
    /// The path the file was opened from (used in every error message).
    public let path: String
    /// Every tensor in the header, by name.
    public let entries: [String: SafeTensorsEntry]
    /// The header's `__metadata__` map (empty when absent).
    public let metadata: [String: String]

    private let base: UnsafeRawPointer?
    private let mappedSize: Int
    private let dataStart: Int

    /// Maps `path` read-only and validates its header.
    ///
    /// Throws `fileUnreadable` when the file cannot be opened or mapped and
    /// `invalidSafetensors` when its header is malformed.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        var mapping: UnsafeRawPointer? = nil
        if size > 0 {  // mmap rejects length 0; an empty file is reported by parseHeader instead
            let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let p, p != MAP_FAILED else {
                throw LLaVAModelError.fileUnreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
            }
            mapping = UnsafeRawPointer(p)
        }
        do {
            let parsed = try Self.parseHeader(UnsafeRawBufferPointer(start: mapping, count: size), path: path)
            (entries, metadata, dataStart) = (parsed.entries, parsed.metadata, parsed.dataStart)
        } catch {
            if let mapping { munmap(UnsafeMutableRawPointer(mutating: mapping), size) }
            throw error
        }
        (base, mappedSize) = (mapping, size)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }
    }

    /// The tensor `name` converted to fp32 (from F32, F16 or BF16), keeping its shape.
    public func tensor(_ name: String) throws -> Tensor {
        let entry = try self.entry(name)
        let n = entry.elementCount
        let src = bytes(of: entry)
        let storage: [Float]
        switch entry.dtype {
        case "F32":
            storage = HugePages.array(count: n) { (out: UnsafeMutableBufferPointer<Float>) in
                // memcpy: the data section need not be 4-byte aligned, and the host is little-endian.
                UnsafeMutableRawBufferPointer(out).copyMemory(from: src)
            }
        case "F16":
            storage = HalfTable.values.withUnsafeBufferPointer { table in
                HugePages.array(count: n) { (out: UnsafeMutableBufferPointer<Float>) in
                    for i in 0..<n {
                        let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                        out[i] = table[Int(h)]
                    }
                }
            }
        case "BF16":
            storage = HugePages.array(count: n) { (out: UnsafeMutableBufferPointer<Float>) in
                // bf16 is the top half of an fp32, so widening is exact.
                for i in 0..<n {
                    let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = Float(bitPattern: UInt32(h) << 16)
                }
            }
        default:
            throw LLaVAModelError.unsupportedDType(path: path, tensor: name, dtype: entry.dtype)
        }
        return Tensor(shape: entry.shape, storage: storage)
    }

    /// The BF16 tensor `name`'s bit patterns, unconverted and flattened (nil when the tensor is
    /// stored in another dtype): lets BF16 checkpoints stay BF16 in memory.
    public func bf16Bits(_ name: String) throws -> [UInt16]? {
        let entry = try self.entry(name)
        guard entry.dtype == "BF16" else { return nil }
        let n = entry.elementCount, src = bytes(of: entry)
        return HugePages.array(count: n) { (out: UnsafeMutableBufferPointer<UInt16>) in
            // memcpy: the data section need not be 2-byte aligned, and the host is little-endian.
            UnsafeMutableRawBufferPointer(out).copyMemory(from: src)
        }
    }

    /// The I64 or I32 tensor `name` (e.g. token ids in a fixture), flattened.
    public func integers(_ name: String) throws -> [Int] {
        let entry = try self.entry(name)
        let n = entry.elementCount
        let src = bytes(of: entry)
        switch entry.dtype {
        case "I64":
            return (0..<n).map { Int(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case "I32":
            return (0..<n).map { Int(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default:
            // Not `unsupportedDType`: its message promises float dtypes, which would mislead here.
            throw LLaVAModelError.invalidSafetensors(
                path: path, reason: "tensor '\(name)' has dtype \(entry.dtype); an integer array must be I64 or I32")
        }
    }

    private func entry(_ name: String) throws -> SafeTensorsEntry {
        guard let entry = entries[name] else {
            throw LLaVAModelError.missingTensor(path: path, tensor: name)
        }
        return entry
    }

    /// The entry's bytes inside the mapping; in bounds because `parseHeader` checked them.
    private func bytes(of entry: SafeTensorsEntry) -> UnsafeRawBufferPointer {
        guard let base, !entry.byteRange.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataStart + entry.byteRange.lowerBound,
                                      count: entry.byteRange.count)
    }
}

// MARK: - Header parsing

extension SafeTensorsFile {
    /// Bits per element for every dtype the safetensors format defines (sub-byte floats included,
    /// so their files still open; only F32/F16/BF16 and I64/I32 can be converted).
    static let dtypeBits: [String: Int] = [
        "F64": 64, "F32": 32, "F16": 16, "BF16": 16,
        "I64": 64, "I32": 32, "I16": 16, "I8": 8,
        "U64": 64, "U32": 32, "U16": 16, "U8": 8, "BOOL": 8,
        "C64": 64, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
        "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
    ]

    /// A safetensors header needs depth 3 (`{name: {shape: [..]}}`); anything much deeper is
    /// rejected before JSON decoding so hostile nesting cannot exhaust the stack.
    static let maxJSONDepth = 8

    /// Parses and validates the header of a whole safetensors file held in `bytes`.
    ///
    /// Layout: an 8-byte little-endian header length `n`, `n` bytes of JSON, then the data
    /// section. Every tensor's `data_offsets` must lie inside the data section and hold exactly
    /// `product(shape) × dtype size` bytes. Never traps on any input; every failure is
    /// `LLaVAModelError.invalidSafetensors(path:reason:)`.
    /// - Returns: the entries by name, the `__metadata__` map, and the data section's byte offset.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws
        -> (entries: [String: SafeTensorsEntry], metadata: [String: String], dataStart: Int)
    {
        func fail(_ reason: String) -> LLaVAModelError { .invalidSafetensors(path: path, reason: reason) }

        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length prefix")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(headerLength) exceeds file size \(bytes.count) (at most \(bytes.count - 8) bytes follow the length prefix); the file is truncated or not safetensors")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        let dataSize = bytes.count - dataStart

        guard jsonDepth(headerBytes, exceeds: maxJSONDepth) == false else {
            throw fail("header JSON nests deeper than \(maxJSONDepth) levels; a safetensors header needs 3")
        }
        let json: HeaderJSON
        do {
            json = try JSONDecoder().decode(HeaderJSON.self, from: Data(headerBytes))
        } catch {
            throw fail("header (\(headerLength) bytes after the length prefix) is not valid JSON")
        }
        guard case let .object(top) = json else {
            throw fail("header must be a JSON object, found \(json.kind)")
        }

        var metadata: [String: String] = [:]
        var entries: [String: SafeTensorsEntry] = [:]
        // Sorted so the first error reported is the same on every run.
        for name in top.keys.sorted() {
            let value = top[name]!
            if name == "__metadata__" {
                guard case let .object(map) = value else {
                    throw fail("'__metadata__' must be an object of strings, found \(value.kind)")
                }
                for (key, item) in map {
                    guard case let .string(s) = item else {
                        throw fail("'__metadata__' entry '\(key)' must be a string, found \(item.kind)")
                    }
                    metadata[key] = s
                }
                continue
            }
            entries[name] = try parseEntry(name: name, value, dataSize: dataSize, fail: fail)
        }
        return (entries, metadata, dataStart)
    }

    private static func parseEntry(name: String, _ value: HeaderJSON, dataSize: Int,
                                   fail: (String) -> LLaVAModelError) throws -> SafeTensorsEntry {
        guard case let .object(fields) = value else {
            throw fail("tensor '\(name)' must be an object with dtype, shape and data_offsets, found \(value.kind)")
        }
        guard case let .string(dtype)? = fields["dtype"] else {
            throw fail("tensor '\(name)': missing or non-string 'dtype'")
        }
        guard let bits = dtypeBits[dtype] else {
            throw fail("tensor '\(name)': unknown dtype '\(dtype)' (known: \(dtypeBits.keys.sorted().joined(separator: ", ")))")
        }
        guard case let .array(shapeJSON)? = fields["shape"], let shape = nonNegativeInts(shapeJSON) else {
            throw fail("tensor '\(name)': missing 'shape' or it is not an array of non-negative integers")
        }
        guard case let .array(offsetsJSON)? = fields["data_offsets"], let offsets = nonNegativeInts(offsetsJSON),
              offsets.count == 2 else {
            throw fail("tensor '\(name)': missing 'data_offsets' or it is not [begin, end] with non-negative integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end, end <= dataSize else {
            throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data section")
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("tensor '\(name)': shape \(shape) has too many elements (overflows Int)") }
            count = product
        }
        let (totalBits, overflow) = count.multipliedReportingOverflow(by: bits)
        guard !overflow else { throw fail("tensor '\(name)': shape \(shape) of \(dtype) is too large (byte size overflows Int)") }
        guard totalBits % 8 == 0 else {
            throw fail("tensor '\(name)': shape \(shape) of \(dtype) does not fill a whole number of bytes")
        }
        guard end - begin == totalBits / 8 else {
            throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype) needs \(totalBits / 8)")
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: begin..<end, elementCount: count)
    }

    private static func nonNegativeInts(_ values: [HeaderJSON]) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(values.count)
        for v in values {
            guard case let .int(i) = v, i >= 0 else { return nil }
            out.append(i)
        }
        return out
    }

    /// Whether `{`/`[` nesting (outside strings) goes deeper than `limit`.
    private static func jsonDepth(_ bytes: UnsafeRawBufferPointer, exceeds limit: Int) -> Bool {
        var depth = 0, inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > limit { return true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return false
    }
}

/// A decoded JSON value. The header is decoded into this rather than into typed structs so
/// each validation failure can be explained in safetensors terms, not as a DecodingError.
enum HeaderJSON: Decodable {
    case null, bool(Bool), int(Int), double(Double), string(String)
    case array([HeaderJSON]), object([String: HeaderJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .double(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([HeaderJSON].self) { self = .array(v) }
        else { self = .object(try c.decode([String: HeaderJSON].self)) }
    }

    /// For messages: "found a number".
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// fp16 → fp32 by table: 65 536 exact values (256 KiB), built once from the bit layout so it
/// needs no `Float16` (absent on macOS x86_64) and the conversion loop is one load per element.
enum HalfTable {
    static let values: [Float] = (0...UInt16.max).map(convert)

    static func convert(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:  // zero or subnormal: mantissa × 2^-24, exact in fp32
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:  // inf / NaN, payload kept
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:  // rebias 15 → 127
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }
}
