import Foundation

/// What `encode(addSpecialTokens: true)` wraps around a single sequence's ids: the reference's
/// `post_processor` reduced to the single-sequence case (pairs are never encoded here).
struct PostProcessor: Sendable, Equatable {
    var prefix: [Int] = []
    var suffix: [Int] = []

    static let supportedTypes = ["TemplateProcessing", "ByteLevel", "RobertaProcessing", "BertProcessing", "Sequence"]

    func apply(_ ids: [Int]) -> [Int] { prefix + ids + suffix }

    /// Reads a `post_processor` object; `field` is its dotted path, for errors.
    static func parse(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader) throws -> PostProcessor {
        let type = try reader.type(of: json, field: field)
        switch type {
        case "ByteLevel":
            return PostProcessor()  // only trims offsets, which this tokenizer does not report
        case "Sequence":
            var result = PostProcessor()
            for (i, item) in try reader.array(json, "processors", field: field).enumerated() {
                let p = try parse(item, field: "\(field).processors[\(i)]", reader: reader)
                result = PostProcessor(prefix: p.prefix + result.prefix, suffix: result.suffix + p.suffix)
            }
            return result
        case "RobertaProcessing", "BertProcessing":
            func pair(_ key: String) throws -> Int {
                guard let a = json[key]?.array, a.count == 2, let id = a[1].int else {
                    throw reader.invalid("\(field).\(key)", "expected [token, id]")
                }
                return id
            }
            return PostProcessor(prefix: [try pair("cls")], suffix: [try pair("sep")])
        case "TemplateProcessing":
            // special_tokens: {name: {"id": name, "ids": [...], "tokens": [...]}}
            var specials: [String: [Int]] = [:]
            if let members = json["special_tokens"]?.members {
                for (name, value) in members {
                    guard let ids = value["ids"]?.array?.compactMap(\.int) else {
                        throw reader.invalid("\(field).special_tokens.\(name).ids", "expected an array of ids")
                    }
                    specials[name] = ids
                }
            }
            var result = PostProcessor()
            var seenSequence = false
            for (i, piece) in try reader.array(json, "single", field: field).enumerated() {
                let pieceField = "\(field).single[\(i)]"
                if piece["Sequence"] != nil {
                    seenSequence = true
                } else if let special = piece["SpecialToken"] {
                    guard let name = special["id"]?.string else { throw reader.invalid(pieceField, "SpecialToken without an id") }
                    guard let ids = specials[name] else {
                        throw reader.invalid(pieceField, "special token '\(name)' is not listed in special_tokens")
                    }
                    if seenSequence { result.suffix += ids } else { result.prefix += ids }
                } else {
                    throw reader.invalid(pieceField, "expected {\"Sequence\": …} or {\"SpecialToken\": …}")
                }
            }
            return result
        default:
            throw reader.unsupported(field: "\(field).type", kind: "post_processor", found: type, supported: supportedTypes)
        }
    }
}
