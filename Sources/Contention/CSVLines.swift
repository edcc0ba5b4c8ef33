import Foundation

/// The strict line reader behind both trace formats: `#` comment lines, one exact header,
/// then rows of plain comma-separated fields, every failure reported with its 1-based line.
///
/// No quoting, no inline comments: the formats hold numbers and one path, so a strict reader
/// with line numbers serves a user better than a general CSV library would.
struct CSVLines {
    struct Row {
        let line: Int
        let fields: [String]
    }

    var comments: [String] = []
    var rows: [Row] = []
    /// The line just past the end of the file, for "no rows" errors.
    var endLine = 1

    init(_ text: String, file: String, header: [String]) throws {
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        // A Character "\r\n" is one newline in Swift, so CRLF files count lines the same way.
        let lines = body.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline })
        var sawHeader = false
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                var c = line.dropFirst()
                if c.hasPrefix(" ") { c = c.dropFirst() }
                comments.append(String(c))
                continue
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if !sawHeader {
                guard fields.map({ $0.lowercased() }) == header else {
                    throw ContentionError.badTrace(file: file, line: number,
                        reason: "expected the header '\(header.joined(separator: ","))', found '\(Self.clip(line))'")
                }
                sawHeader = true
                continue
            }
            guard fields.count == header.count else {
                throw ContentionError.badTrace(file: file, line: number,
                    reason: "expected \(header.count) fields (\(header.joined(separator: ","))), found \(fields.count)")
            }
            rows.append(Row(line: number, fields: fields))
        }
        endLine = lines.count + (text.hasSuffix("\n") ? 0 : 1)
        guard sawHeader else {
            throw ContentionError.badTrace(file: file, line: max(1, endLine),
                reason: "no header: expected '\(header.joined(separator: ","))'")
        }
        guard !rows.isEmpty else {
            throw ContentionError.badTrace(file: file, line: max(1, endLine), reason: "the trace has no rows")
        }
    }

    /// A finite decimal number in `range`; `what` names the column in the error.
    static func number(_ text: String, _ what: String, in range: ClosedRange<Double>, file: String, line: Int) throws -> Double {
        // Double("nan"), Double("inf") and hex floats parse; a trace holds plain decimals only.
        let allowed = Set("0123456789.eE+-")
        guard !text.isEmpty, text.allSatisfy({ allowed.contains($0) }), let v = Double(text), v.isFinite else {
            throw ContentionError.badTrace(file: file, line: line, reason: "\(what) '\(clip(text))' is not a number")
        }
        guard range.contains(v) else {
            throw ContentionError.badTrace(file: file, line: line,
                reason: "\(what) \(text) is out of range (expected \(format(range.lowerBound))…\(format(range.upperBound)))")
        }
        return v
    }

    /// A decimal integer in `range`.
    static func integer(_ text: String, _ what: String, in range: ClosedRange<Int>, file: String, line: Int) throws -> Int {
        guard let v = Int(text) else {
            throw ContentionError.badTrace(file: file, line: line, reason: "\(what) '\(clip(text))' is not an integer")
        }
        guard range.contains(v) else {
            throw ContentionError.badTrace(file: file, line: line,
                reason: "\(what) \(v) is out of range (expected \(range.lowerBound)…\(range.upperBound))")
        }
        return v
    }

    /// Shortest text that reads back as the same Double; integers without ".0".
    static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        return "\(x)"
    }

    /// Comment lines as written: one `# ` line per comment (newlines inside become spaces).
    static func commentLines(_ comments: [String]) -> String {
        comments.map { "# " + $0.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ") + "\n" }.joined()
    }

    /// Keeps error messages one short line even for binary garbage.
    static func clip(_ s: some StringProtocol) -> String {
        let t = String(s.prefix(40))
        return s.count > 40 ? t + "…" : t
    }
}
