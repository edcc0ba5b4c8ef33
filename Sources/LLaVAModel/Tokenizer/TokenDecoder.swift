import Foundation

/// `tokenizer.json`'s `decoder`: turns the token strings of ids back into text. Each step maps
/// a list of token strings to a new list (the reference's `decode_chain`); the results are
/// concatenated at the end.
indirect enum TokenDecoder: Sendable {
    case sequence([TokenDecoder])
    case replace(TextPattern, [Unicode.Scalar])
    /// Runs of `<0xXX>` tokens become the text of their bytes (or one U+FFFD per byte when
    /// the run is not valid UTF-8).
    case byteFallback
    /// Joins everything into one token.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters of each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// `replacement` → space; in the first token it is dropped unless `prependScheme` is never.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    /// GPT-2 printable characters → bytes → UTF-8 (lossy), as one token.
    case byteLevel

    static let supportedTypes = ["Sequence", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace", "ByteLevel"]

    func decodeChain(_ tokens: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case let .sequence(steps):
            var t = tokens
            for step in steps { t = step.decodeChain(t) }
            return t
        case let .replace(pattern, content):
            return tokens.map { token in
                var out: [Unicode.Scalar] = []
                for m in pattern.findMatches(token) {
                    if m.isMatch { out.append(contentsOf: content) } else { out.append(contentsOf: token[m.range]) }
                }
                return out
            }
        case .byteFallback:
            var out: [[Unicode.Scalar]] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = TokenizerUnicode.strictScalars(pending) {
                    out.append(text)
                } else {
                    out.append(contentsOf: Array(repeating: ["\u{FFFD}"], count: pending.count))
                }
                pending.removeAll()
            }
            for token in tokens {
                if let b = Self.byteValue(token) { pending.append(b) } else { flush(); out.append(token) }
            }
            flush()
            return out
        case .fuse:
            return [tokens.flatMap { $0 }]
        case let .strip(content, start, stop):
            return tokens.map { token in
                var lo = 0
                for i in 0..<min(start, token.count) {
                    if token[i] == content { lo = i + 1 } else { break }
                }
                var hi = token.count
                if stop > 0 {
                    for i in 0..<min(stop, token.count) {
                        let index = token.count - i - 1
                        if token[index] == content { hi = index } else { break }
                    }
                }
                return lo < hi ? Array(token[lo..<hi]) : []
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, token in
                var out: [Unicode.Scalar] = []
                out.reserveCapacity(token.count)
                for c in token {
                    if c == replacement {
                        if i == 0 && scheme != .never { continue }
                        out.append(" ")
                    } else {
                        out.append(c)
                    }
                }
                return out
            }
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                var mapped: [UInt8] = []
                mapped.reserveCapacity(token.count)
                var ok = true
                for c in token {
                    guard let b = TokenizerUnicode.scalarToByte[c.value] else { ok = false; break }
                    mapped.append(b)
                }
                if ok { bytes += mapped } else { bytes += TokenizerUnicode.utf8(token) }
            }
            return [TokenizerUnicode.lossyScalars(bytes)]
        }
    }

    /// The byte of a `<0xXX>` token (exactly six characters, two hex digits).
    static func byteValue(_ token: [Unicode.Scalar]) -> UInt8? {
        guard token.count == 6, token[0] == "<", token[1] == "0", token[2] == "x", token[5] == ">" else { return nil }
        func hex(_ s: Unicode.Scalar) -> UInt8? {
            switch s.value {
            case 0x30...0x39: return UInt8(s.value - 0x30)
            case 0x41...0x46: return UInt8(s.value - 0x41 + 10)
            case 0x61...0x66: return UInt8(s.value - 0x61 + 10)
            default: return nil
            }
        }
        guard let hi = hex(token[3]), let lo = hex(token[4]) else { return nil }
        return hi << 4 | lo
    }

    /// Whether any step turns `<0xXX>` tokens into bytes.
    var hasByteFallback: Bool {
        switch self {
        case .byteFallback: return true
        case let .sequence(steps): return steps.contains { $0.hasByteFallback }
        default: return false
        }
    }

    /// Whether any step maps GPT-2 byte characters back to bytes.
    var hasByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case let .sequence(steps): return steps.contains { $0.hasByteLevel }
        default: return false
        }
    }

    static func parse(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader) throws -> TokenDecoder {
        let type = try reader.type(of: json, field: field)
        switch type {
        case "Sequence":
            let items = try reader.array(json, "decoders", field: field)
            return .sequence(try items.enumerated().map { try parse($1, field: "\(field).decoders[\($0)]", reader: reader) })
        case "Replace":
            let pattern = try reader.pattern(json, field: field)
            return .replace(pattern, Array(try reader.string(json, "content", field: field).unicodeScalars))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let content = try reader.scalar(json, "content", field: field)
            let start = try reader.int(json, "start", field: field)
            let stop = try reader.int(json, "stop", field: field)
            guard start >= 0, stop >= 0 else { throw reader.invalid("\(field).start", "start and stop must be non-negative") }
            return .strip(content: content, start: start, stop: stop)
        case "Metaspace":
            let (replacement, scheme) = try PrependScheme.metaspaceSettings(json, field: field, reader: reader)
            return .metaspace(replacement: replacement, prependScheme: scheme)
        case "ByteLevel": return .byteLevel
        default:
            throw reader.unsupported(field: "\(field).type", kind: "decoder", found: type, supported: supportedTypes)
        }
    }
}
