import Foundation

/// The parts of `tokenizer_config.json` that change how text is encoded, in the file's own
/// words. Every field is optional; absent fields take transformers 5's defaults.
struct TokenizerConfig {
    /// `bos_token`; `hasBosToken` tells an explicit `null` from an absent key.
    var bosToken: String?
    var hasBosToken = false
    var eosToken: String?
    var hasEosToken = false
    /// `add_bos_token` / `add_eos_token` (default false, as for a plain fast tokenizer).
    var addBosToken = false
    var addEosToken = false
    /// Whether either key is present: then transformers rebuilds the post-processor from them.
    var hasExplicitAddBosOrEos = false
    var chatTemplate: String?
    /// `added_tokens_decoder` entries, in id order.
    var addedTokensDecoder: [AddedToken] = []
    /// `unk_token`, `pad_token`, … and `additional_special_tokens`: transformers adds these as
    /// special tokens when `tokenizer.json` does not list them.
    var namedSpecialTokens: [String] = []
    /// `tokenizer_class`, `legacy` and `add_prefix_space`: what transformers 5 rebuilds a
    /// LlamaTokenizer from.
    var tokenizerClass: String?
    var legacy: Bool?
    var addPrefixSpace: Bool?

    init() {}

    init(data: Data, reader: TokenizerFileReader) throws {
        let json = try reader.parse(data)
        guard json.members != nil else { throw reader.invalid("(document)", "expected a JSON object, found \(json.kindName)") }

        /// A token given as a string or as `{"content": …, "__type": "AddedToken"}`.
        func tokenName(_ key: String) throws -> String? {
            guard let v = json[key], !v.isNull else { return nil }
            if let s = v.string { return s }
            if let c = v["content"]?.string { return c }
            throw reader.invalid(key, "expected a string or an object with 'content', found \(v.kindName)")
        }
        bosToken = try tokenName("bos_token")
        hasBosToken = json["bos_token"] != nil
        eosToken = try tokenName("eos_token")
        hasEosToken = json["eos_token"] != nil
        hasExplicitAddBosOrEos = json["add_bos_token"] != nil || json["add_eos_token"] != nil
        addBosToken = try reader.bool(json, "add_bos_token", field: "", default: false)
        addEosToken = try reader.bool(json, "add_eos_token", field: "", default: false)
        chatTemplate = try Tokenizer.chatTemplate(in: json, reader: reader)
        tokenizerClass = try reader.optionalString(json, "tokenizer_class", field: "")
        if json["legacy"].map({ !$0.isNull }) == true { legacy = try reader.bool(json, "legacy", field: "", default: false) }
        if json["add_prefix_space"].map({ !$0.isNull }) == true {
            addPrefixSpace = try reader.bool(json, "add_prefix_space", field: "", default: true)
        }

        for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
            if let name = try tokenName(key) { namedSpecialTokens.append(name) }
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let v = json[key], !v.isNull else { continue }
            // A list of tokens, or (transformers 5) a map of name → token.
            let items = v.array ?? v.members?.map(\.value) ?? []
            for item in items {
                if let s = item.string { namedSpecialTokens.append(s) } else if let c = item["content"]?.string { namedSpecialTokens.append(c) }
            }
        }

        if let decoderJSON = json["added_tokens_decoder"], !decoderJSON.isNull {
            guard let members = decoderJSON.members else {
                throw reader.invalid("added_tokens_decoder", "expected an object of id → token, found \(decoderJSON.kindName)")
            }
            var entries: [AddedToken] = []
            for (key, value) in members {
                guard let id = Int(key), id >= 0 else {
                    throw reader.invalid("added_tokens_decoder", "key '\(key)' is not a token id")
                }
                entries.append(try Tokenizer.addedToken(value, field: "added_tokens_decoder.\(key)", reader: reader, id: id))
            }
            addedTokensDecoder = entries.sorted { $0.id < $1.id }
        }
    }
}
