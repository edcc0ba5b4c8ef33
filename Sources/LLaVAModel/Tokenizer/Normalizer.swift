import Foundation

/// `tokenizer.json`'s `normalizer`: rewrites each stretch of text between added tokens before
/// pre-tokenization (LLaMA's legacy form is `Sequence[Prepend("▁"), Replace(" ", "▁")]`).
indirect enum TextNormalizer: Sendable {
    case sequence([TextNormalizer])
    case prepend([Unicode.Scalar])
    case replace(TextPattern, [Unicode.Scalar])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)
    /// Maps every UTF-8 byte to GPT-2's printable character (the `ByteLevel` normalizer).
    case byteLevel

    static let supportedTypes = ["Sequence", "Prepend", "Replace", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "ByteLevel"]

    /// Normalizes `text`. `atOrigin` is cleared when leading text is removed, because the
    /// result then no longer starts at the original text's first character.
    func apply(_ text: [Unicode.Scalar], atOrigin: inout Bool) -> [Unicode.Scalar] {
        switch self {
        case let .sequence(steps):
            var t = text
            for step in steps { t = step.apply(t, atOrigin: &atOrigin) }
            return t
        case let .prepend(prefix):
            return text.isEmpty ? text : prefix + text
        case let .replace(pattern, content):
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(text.count)
            for m in pattern.findMatches(text) {
                if m.isMatch { out.append(contentsOf: content) } else { out.append(contentsOf: text[m.range]) }
            }
            return out
        case .nfc: return Array(TokenizerUnicode.string(text).precomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfd: return Array(TokenizerUnicode.string(text).decomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfkc: return Array(TokenizerUnicode.string(text).precomposedStringWithCompatibilityMapping.unicodeScalars)
        case .nfkd: return Array(TokenizerUnicode.string(text).decomposedStringWithCompatibilityMapping.unicodeScalars)
        case .lowercase:
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(text.count)
            for s in text {
                if s.value < 0x80 {
                    out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value + 32)! : s)
                } else {
                    out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return out
        case let .strip(left, right):
            var lo = 0, hi = text.count
            if left { while lo < hi, TokenizerUnicode.isWhitespace(text[lo]) { lo += 1 } }
            if right { while hi > lo, TokenizerUnicode.isWhitespace(text[hi - 1]) { hi -= 1 } }
            if lo > 0 { atOrigin = false }
            return Array(text[lo..<hi])
        case .byteLevel:
            return TokenizerUnicode.utf8(text).map { TokenizerUnicode.byteToScalar[Int($0)] }
        }
    }

    /// Reads a `normalizer` object; `field` is its dotted path, for errors.
    static func parse(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader) throws -> TextNormalizer {
        let type = try reader.type(of: json, field: field)
        switch type {
        case "Sequence":
            let items = try reader.array(json, "normalizers", field: field)
            return .sequence(try items.enumerated().map { try parse($1, field: "\(field).normalizers[\($0)]", reader: reader) })
        case "Prepend":
            return .prepend(Array(try reader.string(json, "prepend", field: field).unicodeScalars))
        case "Replace":
            let pattern = try reader.pattern(json, field: field)
            return .replace(pattern, Array(try reader.string(json, "content", field: field).unicodeScalars))
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(left: try reader.bool(json, "strip_left", field: field, default: true),
                          right: try reader.bool(json, "strip_right", field: field, default: true))
        case "ByteLevel": return .byteLevel
        default:
            throw reader.unsupported(field: "\(field).type", kind: "normalizer", found: type, supported: supportedTypes)
        }
    }
}
