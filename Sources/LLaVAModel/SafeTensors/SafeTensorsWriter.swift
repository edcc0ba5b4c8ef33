import Foundation
import TensorKernels
#if canImport(Glibc)
import Glibc
/// POSIX `write(2)`, named apart from `SafeTensorsWriter.write`.
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes safetensors files (fixtures, reference activations) in the reference layout.
///
/// Header: `__metadata__` first, then tensors by name, with `dtype`, `shape`, `data_offsets`;
/// padded with spaces to a multiple of 8 so the data section is 8-byte aligned. Data: widest
/// dtype first, then by name, contiguous — the order the reference implementation uses.
public enum SafeTensorsWriter {
    /// One tensor's values.
    public enum Value: Sendable {
        /// Stored as F32.
        case f32(Tensor)
        /// Stored as I64 (e.g. token ids); `values.count` must equal the product of `shape`.
        case i64(shape: [Int], values: [Int])
    }

    /// Writes fp32 tensors to `path` atomically (temp file + rename).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], to path: String,
                             metadata: [String: String] = [:]) throws {
        try write(tensors.map { (name: $0.name, value: Value.f32($0.tensor)) }, to: path, metadata: metadata)
    }

    /// Writes F32 and I64 tensors to `path` atomically (temp file + rename), so an interrupted
    /// run never leaves a half-written file under the final name.
    public static func write(_ tensors: [(name: String, value: Value)], to path: String,
                             metadata: [String: String] = [:]) throws {
        func fail(_ reason: String) -> LLaVAModelError { .invalidSafetensors(path: path, reason: reason) }
        var seen = Set<String>()
        for (name, value) in tensors {
            guard name != "__metadata__" else { throw fail("'__metadata__' is reserved and cannot name a tensor") }
            guard seen.insert(name).inserted else { throw fail("tensor name '\(name)' appears twice") }
            if case let .i64(shape, values) = value, elementCount(shape) != values.count {
                throw fail("tensor '\(name)': shape \(shape) does not match \(values.count) I64 values")
            }
        }

        // Data order: 8-byte dtypes before 4-byte ones keeps every tensor naturally aligned.
        let dataOrder = tensors.sorted { a, b in
            a.value.byteWidth != b.value.byteWidth ? a.value.byteWidth > b.value.byteWidth : a.name < b.name
        }
        var offsets: [String: (Int, Int)] = [:]
        var cursor = 0
        for t in dataOrder {
            offsets[t.name] = (cursor, cursor + t.value.byteCount)
            cursor += t.value.byteCount
        }

        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        for t in tensors.sorted(by: { $0.name < $1.name }) {
            let (begin, end) = offsets[t.name]!
            let shape = t.value.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(t.name)):{\"dtype\":\"\(t.value.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(end)]}")
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        header += [UInt8](repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

        try writeAtomically(to: path) { out in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try out($0) }
            try header.withUnsafeBytes { try out($0) }
            for t in dataOrder {
                switch t.value {
                case let .f32(tensor):
                    try tensor.storage.withUnsafeBytes { try out($0) }  // host is little-endian
                case let .i64(_, values):
                    try values.map { Int64($0).littleEndian }.withUnsafeBytes { try out($0) }
                }
            }
        }
    }

    /// Runs `body` with a sink writing to a temp file next to `path`, then fsyncs and renames
    /// it over `path`; on any failure the temp file is removed.
    private static func writeAtomically(to path: String,
                                        _ body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        func ioError(_ what: String) -> LLaVAModelError {
            .fileUnwritable(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let temp = "\(path).tmp-\(getpid())-\(UInt32.random(in: .min ... .max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw ioError("create \(temp)") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            try body { buffer in
                var rest = buffer
                while !rest.isEmpty {
                    let n = systemWrite(fd, rest.baseAddress, rest.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw ioError("write") }
                    rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                }
            }
            guard fsync(fd) == 0 else { throw ioError("fsync") }
            closed = true
            guard close(fd) == 0 else { throw ioError("close") }
            guard rename(temp, path) == 0 else { throw ioError("rename") }
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// `shape`'s element count, or nil when a dimension is negative or the product overflows.
    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// A JSON string literal; escapes quotes, backslashes and control characters.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension SafeTensorsWriter.Value {
    var dtype: String {
        switch self {
        case .f32: "F32"
        case .i64: "I64"
        }
    }

    var shape: [Int] {
        switch self {
        case let .f32(t): t.shape
        case let .i64(shape, _): shape
        }
    }

    var byteWidth: Int {
        switch self {
        case .f32: 4
        case .i64: 8
        }
    }

    var byteCount: Int {
        switch self {
        case let .f32(t): 4 * t.count
        case let .i64(_, values): 8 * values.count
        }
    }
}
