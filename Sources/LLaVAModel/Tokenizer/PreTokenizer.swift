import Foundation

/// A stretch of text on its way to the model: `atOrigin` says it starts at the first
/// character of the original input (what Metaspace's `prepend_scheme: "first"` looks at).
struct TextPiece: Sendable {
    var scalars: [Unicode.Scalar]
    var atOrigin: Bool
}

/// How Metaspace adds its replacement character in front of a piece.
enum PrependScheme: String, Sendable {
    case first, always, never

    /// A Metaspace component's `replacement` and prepend scheme; the pre-tokenizer and the
    /// decoder of that name spell them the same way.
    static func metaspaceSettings(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader) throws
        -> (replacement: Unicode.Scalar, scheme: PrependScheme) {
        let replacement = try reader.scalar(json, "replacement", field: field, default: "▁")
        var scheme = PrependScheme.always
        if let raw = try reader.optionalString(json, "prepend_scheme", field: field) {
            guard let s = PrependScheme(rawValue: raw) else {
                throw reader.invalid("\(field).prepend_scheme", "'\(raw)' (expected first, always or never)")
            }
            scheme = s
        }
        // Files older than `prepend_scheme` say `add_prefix_space: false` instead.
        if json["add_prefix_space"]?.bool == false { scheme = .never }
        return (replacement, scheme)
    }
}

/// `tokenizer.json`'s `pre_tokenizer`: splits normalized text into the words BPE sees.
indirect enum PreTokenizer: Sendable {
    /// Spaces become `replacement`; optionally prepends it and splits before each one.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// GPT-2: optional leading space, the GPT-2 regex split, then bytes → printable characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(TextPattern, SplitBehavior, invert: Bool)
    case digits(individual: Bool)
    /// Splits on whitespace, dropping it.
    case whitespaceSplit
    case sequence([PreTokenizer])

    static let supportedTypes = ["Metaspace", "ByteLevel", "Split", "Digits", "WhitespaceSplit", "Sequence"]

    func apply(_ pieces: [TextPiece]) -> [TextPiece] {
        switch self {
        case let .sequence(steps):
            var p = pieces
            for step in steps { p = step.apply(p) }
            return p
        case let .metaspace(replacement, scheme, split):
            return pieces.flatMap { piece -> [TextPiece] in
                var s = piece.scalars.map { $0 == " " ? replacement : $0 }
                let startsWithReplacement = s.first == replacement
                switch scheme {
                case .always where !startsWithReplacement: s.insert(replacement, at: 0)
                case .first where !startsWithReplacement && piece.atOrigin: s.insert(replacement, at: 0)
                default: break
                }
                guard split else { return [TextPiece(scalars: s, atOrigin: piece.atOrigin)] }
                let ranges = SplitBehavior.mergedWithNext.pieces(TextPattern.findMatches(s) { $0 == replacement })
                return Self.slices(s, ranges, atOrigin: piece.atOrigin)
            }
        case let .byteLevel(addPrefixSpace, useRegex):
            return pieces.flatMap { piece -> [TextPiece] in
                var s = piece.scalars
                if addPrefixSpace, s.first != " " { s.insert(" ", at: 0) }
                let words = useRegex ? Self.slices(s, Self.gpt2Split(s), atOrigin: piece.atOrigin)
                                     : [TextPiece(scalars: s, atOrigin: piece.atOrigin)]
                return words.compactMap { w in
                    let mapped = TokenizerUnicode.utf8(w.scalars).map { TokenizerUnicode.byteToScalar[Int($0)] }
                    return mapped.isEmpty ? nil : TextPiece(scalars: mapped, atOrigin: w.atOrigin)
                }
            }
        case let .split(pattern, behavior, invert):
            return pieces.flatMap { piece -> [TextPiece] in
                var matches = pattern.findMatches(piece.scalars)
                if invert { matches = matches.map { ($0.range, !$0.isMatch) } }
                return Self.slices(piece.scalars, behavior.pieces(matches), atOrigin: piece.atOrigin)
            }
        case let .digits(individual):
            return pieces.flatMap { piece -> [TextPiece] in
                let matches = TextPattern.findMatches(piece.scalars, where: TokenizerUnicode.isNumber)
                let behavior: SplitBehavior = individual ? .isolated : .contiguous
                return Self.slices(piece.scalars, behavior.pieces(matches), atOrigin: piece.atOrigin)
            }
        case .whitespaceSplit:
            return pieces.flatMap { piece -> [TextPiece] in
                let matches = TextPattern.findMatches(piece.scalars, where: TokenizerUnicode.isWhitespace)
                return Self.slices(piece.scalars, SplitBehavior.removed.pieces(matches), atOrigin: piece.atOrigin)
            }
        }
    }

    /// Sub-pieces of `s`; only one starting at index 0 keeps `atOrigin`.
    static func slices(_ s: [Unicode.Scalar], _ ranges: [Range<Int>], atOrigin: Bool) -> [TextPiece] {
        ranges.compactMap { r in
            r.isEmpty ? nil : TextPiece(scalars: Array(s[r]), atOrigin: atOrigin && r.lowerBound == 0)
        }
    }

    /// GPT-2's pattern, matched by hand so it behaves exactly like the reference's Oniguruma:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    /// Alternatives are tried in order at each position; every scalar ends up in some match.
    static func gpt2Split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        typealias U = TokenizerUnicode
        let n = s.count
        func isOther(_ c: Unicode.Scalar) -> Bool { !U.isWhitespace(c) && !U.isLetter(c) && !U.isNumber(c) }
        var out: [Range<Int>] = []
        var i = 0
        while i < n {
            let c = s[i]
            // 's 't 're 've 'm 'll 'd
            if c == "'", i + 1 < n {
                let c1 = s[i + 1]
                if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" {
                    out.append(i..<i + 2); i += 2; continue
                }
                if i + 2 < n {
                    let c2 = s[i + 2]
                    if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") {
                        out.append(i..<i + 3); i += 3; continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let k = (c == " " && i + 1 < n) ? i + 1 : i
            var matched = false
            for cls in [U.isLetter, U.isNumber, isOther] as [(Unicode.Scalar) -> Bool] where cls(s[k]) {
                var e = k + 1
                while e < n, cls(s[e]) { e += 1 }
                out.append(i..<e); i = e
                matched = true
                break
            }
            if matched { continue }
            // `\s+(?!\S)` then `\s+`
            if U.isWhitespace(c) {
                var e = i + 1
                while e < n, U.isWhitespace(s[e]) { e += 1 }
                if e < n, e - i >= 2 { e -= 1 }  // leave one space to lead the next word
                out.append(i..<e); i = e
                continue
            }
            // Unreachable (every scalar is whitespace, a letter, a number or other); stay total.
            out.append(i..<i + 1); i += 1
        }
        return out
    }

    static func parse(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader) throws -> PreTokenizer {
        let type = try reader.type(of: json, field: field)
        switch type {
        case "Sequence":
            let items = try reader.array(json, "pretokenizers", field: field)
            return .sequence(try items.enumerated().map { try parse($1, field: "\(field).pretokenizers[\($0)]", reader: reader) })
        case "Metaspace":
            let (replacement, scheme) = try PrependScheme.metaspaceSettings(json, field: field, reader: reader)
            return .metaspace(replacement: replacement, prependScheme: scheme,
                              split: try reader.bool(json, "split", field: field, default: true))
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try reader.bool(json, "add_prefix_space", field: field, default: true),
                              useRegex: try reader.bool(json, "use_regex", field: field, default: true))
        case "Split":
            let pattern = try reader.pattern(json, field: field)
            let raw = try reader.string(json, "behavior", field: field)
            guard let behavior = SplitBehavior(rawValue: raw) else {
                throw reader.invalid("\(field).behavior", "'\(raw)' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)")
            }
            return .split(pattern, behavior, invert: try reader.bool(json, "invert", field: field, default: false))
        case "Digits":
            return .digits(individual: try reader.bool(json, "individual_digits", field: field, default: false))
        case "WhitespaceSplit":
            return .whitespaceSplit
        default:
            throw reader.unsupported(field: "\(field).type", kind: "pre_tokenizer", found: type, supported: supportedTypes)
        }
    }
}
