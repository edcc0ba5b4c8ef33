import Foundation

/// A pattern that `Replace` and `Split` search for: a literal string or a regular expression.
///
/// Mirrors the reference's `Pattern::find_matches`: the result covers the whole input with
/// contiguous ordered ranges, each flagged as a match or not.
struct TextPattern: Sendable {
    enum Kind: Sendable {
        case literal([Unicode.Scalar])
        case regex(RegexBox)
    }
    let kind: Kind

    /// `NSRegularExpression` is immutable after creation; this box lets it be shared.
    final class RegexBox: @unchecked Sendable {
        let regex: NSRegularExpression
        init(_ regex: NSRegularExpression) { self.regex = regex }
    }

    static func literal(_ s: String) -> TextPattern { TextPattern(kind: .literal(Array(s.unicodeScalars))) }

    /// Compiles an Oniguruma-syntax pattern (as `tokenizer.json` stores them) with ICU.
    /// Returns nil when ICU rejects it.
    static func regex(_ pattern: String) -> TextPattern? {
        guard let re = try? NSRegularExpression(pattern: icuPattern(fromOniguruma: pattern), options: []) else { return nil }
        return TextPattern(kind: .regex(RegexBox(re)))
    }

    /// Oniguruma's `\s` is the `White_Space` property; ICU's is `[\t\n\f\r\p{Z}]`, which lacks
    /// U+000B and U+0085. Rewrites `\s`/`\S` so both engines agree.
    static func icuPattern(fromOniguruma pattern: String) -> String {
        var out = ""
        var inSet = 0
        var chars = Array(pattern.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if c == "\\", let next = chars.popFirst() {
                switch (next, inSet > 0) {
                case ("s", false): out += #"[\s\x{0B}\x{85}]"#
                case ("s", true): out += #"\s\x{0B}\x{85}"#
                case ("S", false): out += #"[^\s\x{0B}\x{85}]"#
                default: out.unicodeScalars.append(c); out.unicodeScalars.append(next)
                }
                continue
            }
            if c == "[" { inSet += 1 } else if c == "]", inSet > 0 { inSet -= 1 }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// Ranges (in scalar indices) covering `text`, each flagged `true` where the pattern matched.
    func findMatches(_ text: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        if text.isEmpty { return [(0..<0, false)] }
        var matches: [Range<Int>] = []
        switch kind {
        case let .literal(needle):
            if needle.isEmpty { return [(0..<text.count, false)] }
            var i = 0
            while i + needle.count <= text.count {
                if text[i] == needle[0], text[i..<i + needle.count].elementsEqual(needle) {
                    matches.append(i..<i + needle.count)
                    i += needle.count
                } else {
                    i += 1
                }
            }
        case let .regex(box):
            // NSRegularExpression reports UTF-16 offsets; map them back to scalar indices.
            var utf16Start: [Int] = []
            utf16Start.reserveCapacity(text.count + 1)
            var u = 0
            for s in text { utf16Start.append(u); u += s.value > 0xFFFF ? 2 : 1 }
            utf16Start.append(u)
            var scalarAt = [Int](repeating: -1, count: u + 1)
            for (i, off) in utf16Start.enumerated() { scalarAt[off] = i }
            let string = TokenizerUnicode.string(text)
            for m in box.regex.matches(in: string, options: [], range: NSRange(location: 0, length: u)) {
                let lo = scalarAt[m.range.location], hi = scalarAt[m.range.location + m.range.length]
                if lo >= 0, hi >= lo { matches.append(lo..<hi) }
            }
        }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var prev = 0
        for m in matches {
            if prev != m.lowerBound { out.append((prev..<m.lowerBound, false)) }
            out.append((m, true))
            prev = m.upperBound
        }
        if prev != text.count { out.append((prev..<text.count, false)) }
        return out
    }

    /// One match per scalar satisfying `predicate` (the reference's `Fn(char) -> bool` pattern).
    static func findMatches(_ text: [Unicode.Scalar], where predicate: (Unicode.Scalar) -> Bool) -> [(range: Range<Int>, isMatch: Bool)] {
        if text.isEmpty { return [(0..<0, false)] }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var last = 0
        for (i, s) in text.enumerated() where predicate(s) {
            if last < i { out.append((last..<i, false)) }
            out.append((i..<i + 1, true))
            last = i + 1
        }
        if text.count > last { out.append((last..<text.count, false)) }
        return out
    }
}

/// What `Split` does with the matched delimiters (the reference's `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// Turns flagged ranges into the ranges of the pieces to keep, in order; empty ranges are
    /// dropped (the reference filters empty splits).
    func pieces(_ matches: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        var kept: [(range: Range<Int>, remove: Bool)] = []
        switch self {
        case .isolated:
            kept = matches.map { ($0.range, false) }
        case .removed:
            kept = matches.map { ($0.range, $0.isMatch) }
        case .contiguous:
            var previousMatch = false
            for m in matches {
                if m.isMatch == previousMatch, let last = kept.popLast() {
                    kept.append((last.range.lowerBound..<m.range.upperBound, false))
                } else {
                    kept.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for m in matches {
                if m.isMatch && !previousMatch, let last = kept.popLast() {
                    kept.append((last.range.lowerBound..<m.range.upperBound, false))
                } else {
                    kept.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for m in matches.reversed() {
                if m.isMatch && !previousMatch, let last = kept.popLast() {
                    kept.append((m.range.lowerBound..<last.range.upperBound, false))
                } else {
                    kept.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
            kept.reverse()
        }
        return kept.compactMap { $0.remove || $0.range.isEmpty ? nil : $0.range }
    }
}
