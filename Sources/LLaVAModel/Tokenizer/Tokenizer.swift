import Foundation

/// Which reference a `Tokenizer` reproduces where the two disagree.
public enum TokenizerReference: String, Sendable, CaseIterable {
    /// `tokenizer.json` exactly as written, as the `tokenizers` library and transformers 4.x
    /// fast tokenizers run it (and as LLaVA-1.5 was trained: a `▁` after `<image>`).
    case tokenizerJSON
    /// transformers 5's `AutoTokenizer`: for `tokenizer_class` `LlamaTokenizer(Fast)` it ignores
    /// the file's normalizer, pre-tokenizer and decoder and rebuilds them from vocab + merges —
    /// Metaspace without split, prepending only at the start of the text (`legacy: false`) or
    /// to every stretch between special tokens (`legacy: true`), byte fallback on. For a
    /// legacy-normalizer file this drops the `▁` after special tokens (`<image>\n` →
    /// `<image>`, `<0x0A>`). Other tokenizer classes are read as written.
    case transformers5
}

/// A Hugging Face `tokenizer.json` tokenizer (BPE models: LLaMA/SentencePiece-style with byte
/// fallback, and GPT-2-style byte-level), reproducing the `tokenizers` library's ids.
///
/// Encoding runs the reference's stages in order: added tokens (`<image>`, `<s>`, …) are cut
/// out of the raw text; each remaining stretch is normalized, cut again at added tokens that
/// match normalized text, pre-tokenized into words and merged by the BPE model; the
/// post-processor then adds BOS/EOS. Decoding maps ids to token strings and runs the decoder.
///
/// `tokenizer_config.json` is read as transformers 5 reads it: an explicit `add_bos_token` /
/// `add_eos_token` (or a file without a `post_processor`) replaces the post-processor with
/// `[bos] $A [eos]`; `bos_token`/`eos_token` name the BOS/EOS ids; named special tokens and
/// `added_tokens_decoder` entries missing from `tokenizer.json` are added.
///
/// `reference: .transformers5` instead follows transformers 5's `AutoTokenizer`, which rebuilds
/// LLaMA tokenizers instead of reading their pipeline (see `TokenizerReference`).
///
/// Immutable after `init` except for an internal, locked BPE cache; safe to share.
public final class Tokenizer: Sendable {
    /// The `tokenizer.json` path (used in error messages).
    public let path: String
    /// `tokenizer_config.json`'s `chat_template` (or `chat_template.jinja` / `.json` in the
    /// directory), if any.
    public let chatTemplate: String?
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    /// One more than the largest id the tokenizer can produce or decode.
    public let vocabularySize: Int

    let model: BPEModel
    let normalizer: TextNormalizer?
    let preTokenizer: PreTokenizer?
    let decoder: TokenDecoder?
    let postProcessor: PostProcessor
    /// Added tokens by id.
    let addedTokens: [Int: AddedToken]
    /// Added token content (UTF-8) → id.
    let addedIds: [[UInt8]: Int]
    /// What `pieces` shows for an added token matched in normalized text: its normalized form,
    /// as the reference's `id_to_token` does.
    let addedPieces: [Int: String]
    /// Contents of special added tokens (UTF-8), skipped by `decode(skipSpecialTokens: true)`.
    let specialContents: Set<[UInt8]>
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher

    /// Loads `tokenizer.json` (+ `tokenizer_config.json` if present) from a directory.
    public convenience init(directory: String, reference: TokenizerReference = .tokenizerJSON) throws {
        let dir = URL(fileURLWithPath: directory)
        let path = dir.appendingPathComponent("tokenizer.json").path
        let data = try Self.read(path)
        let configPath = dir.appendingPathComponent("tokenizer_config.json").path
        let config = FileManager.default.fileExists(atPath: configPath) ? try Self.read(configPath) : nil
        // Newer checkpoints keep the template beside the config instead of inside it.
        var fallbackTemplate: String? = nil
        let jinja = dir.appendingPathComponent("chat_template.jinja").path
        let templateJSON = dir.appendingPathComponent("chat_template.json").path
        if FileManager.default.fileExists(atPath: jinja) {
            let bytes = try Self.read(jinja)
            fallbackTemplate = String(decoding: bytes, as: UTF8.self)
        } else if FileManager.default.fileExists(atPath: templateJSON) {
            let reader = TokenizerFileReader(path: templateJSON)
            let json = try reader.parse(try Self.read(templateJSON))
            fallbackTemplate = try Self.chatTemplate(in: json, reader: reader)
        }
        try self.init(tokenizerJSON: data, config: config, path: path, configPath: configPath,
                      fallbackChatTemplate: fallbackTemplate, reference: reference)
    }

    /// Builds a tokenizer from the bytes of `tokenizer.json` and, optionally,
    /// `tokenizer_config.json`; `path` is the `tokenizer.json` path named in errors (the
    /// config is named as `tokenizer_config.json` beside it).
    public convenience init(tokenizerJSON: Data, config: Data?, path: String,
                            reference: TokenizerReference = .tokenizerJSON) throws {
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent()
            .appendingPathComponent("tokenizer_config.json").path
        try self.init(tokenizerJSON: tokenizerJSON, config: config, path: path, configPath: configPath,
                      fallbackChatTemplate: nil, reference: reference)
    }

    init(tokenizerJSON: Data, config configData: Data?, path: String, configPath: String,
         fallbackChatTemplate: String?, reference: TokenizerReference) throws {
        self.path = path
        let reader = TokenizerFileReader(path: path)
        let root = try reader.parse(tokenizerJSON)
        guard root.members != nil else { throw reader.invalid("(document)", "expected a JSON object, found \(root.kindName)") }
        if let version = root["version"], let v = version.string, v != "1.0" {
            throw reader.invalid("version", "unknown tokenizer.json version '\(v)' (expected 1.0)")
        }

        // Model.
        guard let modelJSON = root["model"], modelJSON.members != nil else {
            throw reader.invalid("model", root["model"] == nil ? "missing" : "expected an object")
        }
        let modelType: String
        if let t = modelJSON["type"] {
            guard let s = t.string else { throw reader.invalid("model.type", "expected a string, found \(t.kindName)") }
            modelType = s
        } else {
            // Files from before `type` was written: a BPE model is the one with merges.
            modelType = modelJSON["merges"] != nil ? "BPE" : (modelJSON["vocab"]?.array != nil ? "Unigram" : "(none)")
        }
        guard modelType == "BPE" else {
            throw LLaVAModelError.unsupportedModelType(path: path, field: "model.type", found: modelType, expected: ["BPE"])
        }
        var config = TokenizerConfig()
        if let configData {
            config = try TokenizerConfig(data: configData, reader: TokenizerFileReader(path: configPath))
        }
        let llamaRebuild = reference == .transformers5
            && ["LlamaTokenizer", "LlamaTokenizerFast"].contains(config.tokenizerClass ?? "")
        let model = try BPEModel(json: modelJSON, reader: reader, llamaRebuild: llamaRebuild)
        self.model = model

        func component<T>(_ key: String, _ parse: (TokenizerJSON, String, TokenizerFileReader) throws -> T) throws -> T? {
            guard let json = root[key], !json.isNull else { return nil }
            return try parse(json, key, reader)
        }
        var normalizer = try component("normalizer") { try TextNormalizer.parse($0, field: $1, reader: $2) }
        var preTokenizer = try component("pre_tokenizer") { try PreTokenizer.parse($0, field: $1, reader: $2) }
        var decoder = try component("decoder") { try TokenDecoder.parse($0, field: $1, reader: $2) }
        let filePostProcessor = try component("post_processor") { try PostProcessor.parse($0, field: $1, reader: $2) }
        if llamaRebuild {
            // transformers 5 `LlamaTokenizer.__init__` (with `_get_prepend_scheme`).
            let addPrefixSpace = config.addPrefixSpace ?? true
            let scheme: PrependScheme = addPrefixSpace ? (config.legacy == true ? .always : .first) : .never
            normalizer = nil
            preTokenizer = .metaspace(replacement: "▁", prependScheme: scheme, split: false)
            decoder = .sequence([.replace(.literal("▁"), [" "]), .byteFallback, .fuse]
                                + (addPrefixSpace ? [.strip(content: " ", start: 1, stop: 0)] : []))
        }
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder

        // Added tokens, with ids assigned as the reference's `add_tokens` does.
        var added = AddedTokenTable(model: model, normalizer: normalizer)
        // A rebuilt LlamaTokenizer takes its added tokens from the config when it lists them.
        let fileAddedTokens = llamaRebuild && !config.addedTokensDecoder.isEmpty ? nil : root["added_tokens"]
        if let items = fileAddedTokens, !items.isNull {
            guard let list = items.array else { throw reader.invalid("added_tokens", "expected an array, found \(items.kindName)") }
            for (i, item) in list.enumerated() {
                added.add(try Self.addedToken(item, field: "added_tokens[\(i)]", reader: reader, id: nil))
            }
        }

        // transformers re-adds every entry whose flags differ from tokenizer.json's; adding an
        // identical entry again changes nothing.
        for token in config.addedTokensDecoder { added.add(token) }
        for name in config.namedSpecialTokens where added.id(of: name) == nil {
            if model.id(of: name) != nil {
                added.add(AddedToken(id: -1, content: name, singleWord: false, lstrip: false, rstrip: false,
                                     normalized: false, special: true))
            }
        }
        self.addedTokens = added.byId
        self.addedIds = added.ids
        self.addedPieces = added.normalizedPieces
        self.specialContents = Set(added.byId.values.filter(\.special).map { Array($0.content.utf8) })
        self.rawMatcher = AddedTokenMatcher(added.byId.values.filter { !$0.normalized }.map {
            .init(scalars: Array($0.content.unicodeScalars), token: $0)
        })
        self.normalizedMatcher = AddedTokenMatcher(added.byId.values.filter(\.normalized).map {
            .init(scalars: Array((added.normalizedPieces[$0.id] ?? $0.content).unicodeScalars), token: $0)
        })

        func idOf(_ token: String) -> Int? { added.id(of: token) ?? model.id(of: token) }
        let bos = config.bosToken.flatMap(idOf)
        let eos = config.eosToken.flatMap(idOf)
        if config.hasExplicitAddBosOrEos || filePostProcessor == nil {
            postProcessor = PostProcessor(prefix: config.addBosToken && bos != nil ? [bos!] : [],
                                          suffix: config.addEosToken && eos != nil ? [eos!] : [])
        } else {
            postProcessor = filePostProcessor!
        }
        bosTokenId = config.hasBosToken ? bos : postProcessor.prefix.first
        eosTokenId = config.hasEosToken ? eos : postProcessor.suffix.last
        chatTemplate = config.chatTemplate ?? fallbackChatTemplate
        vocabularySize = max((model.tokens.keys.max() ?? -1), (added.byId.keys.max() ?? -1)) + 1
    }

    // MARK: Encoding

    /// Encodes text; `addSpecialTokens` adds BOS/EOS as `tokenizer_config.json` / the
    /// post-processor says (LLaMA: BOS only). Added tokens in the text (`<image>`, `<s>`) are
    /// always matched, as in the reference.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int] = []
        ids.reserveCapacity(scalars.count / 3 + 2)
        for segment in rawMatcher.split(scalars) {
            if let id = segment.id { ids.append(id); continue }
            var atOrigin = segment.range.lowerBound == 0
            var text = Array(scalars[segment.range])
            if let normalizer { text = normalizer.apply(text, atOrigin: &atOrigin) }
            for part in normalizedMatcher.split(text) {
                if let id = part.id { ids.append(id); continue }
                let piece = TextPiece(scalars: Array(text[part.range]), atOrigin: atOrigin && part.range.lowerBound == 0)
                for word in preTokenizer?.apply([piece]) ?? [piece] {
                    ids.append(contentsOf: model.tokenize(word.scalars))
                }
            }
        }
        return addSpecialTokens ? postProcessor.apply(ids) : ids
    }

    /// The id of a token string (added tokens first, then the vocabulary), e.g. `"<image>"`.
    public func tokenId(_ piece: String) -> Int? {
        let key = Array(piece.utf8)
        return addedIds[key] ?? model.vocab[key]
    }

    /// Token strings for ids, as `adallava tokenize` shows them (`▁Hello`, `<0x0A>`, `Ġworld`);
    /// an id the tokenizer does not define gives an empty string.
    public func pieces(_ ids: [Int]) -> [String] {
        ids.map { piece($0) ?? "" }
    }

    func piece(_ id: Int) -> String? {
        if let p = addedPieces[id] { return p }
        if let t = addedTokens[id] { return t.content }
        return model.tokens[id]
    }

    // MARK: Decoding

    /// Decodes ids to text. Ids the tokenizer does not define are skipped, as in the reference.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        TokenizerUnicode.string(decodeScalars(keptPieces(ids, skipSpecialTokens: skipSpecialTokens)))
    }

    /// The token strings `decode` feeds to the decoder.
    private func keptPieces(_ ids: [Int], skipSpecialTokens: Bool) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            guard let p = piece(id) else { continue }
            if skipSpecialTokens, !specialContents.isEmpty, specialContents.contains(Array(p.utf8)) { continue }
            out.append(Array(p.unicodeScalars))
        }
        return out
    }

    private func decodeScalars(_ pieces: [[Unicode.Scalar]]) -> [Unicode.Scalar] {
        guard let decoder else {
            // No decoder: the reference joins the tokens with spaces.
            return Array(pieces.map { TokenizerUnicode.string($0) }.joined(separator: " ").unicodeScalars)
        }
        return decoder.decodeChain(pieces).flatMap { $0 }
    }

    /// Incremental decoding for streaming: the text that `next` adds after `previous`.
    ///
    /// Concatenating the results for `ids[0]`, `ids[1]`, … (each given the ids before it)
    /// gives `decode(ids)`, with leading-space rules (Metaspace, `Strip`) applied once at the
    /// start. A character spelled by several byte tokens (`<0xE4><0xB8><0xAD>`, or byte-level
    /// pieces) is returned whole by the id that completes it, the ids before returning "".
    /// Two exceptions, where the full decode itself changes earlier text: a stream that
    /// stops inside a character never shows the partial bytes (`decode` shows U+FFFD), and
    /// after bytes that can never form valid UTF-8 the increments follow the text as far as
    /// it stays stable.
    public func decodeIncrement(previous: [Int], next: Int, skipSpecialTokens: Bool = true) -> String {
        let before = stableScalars(previous, skipSpecialTokens: skipSpecialTokens)
        let after = stableScalars(previous + [next], skipSpecialTokens: skipSpecialTokens)
        var common = 0
        let limit = min(before.count, after.count)
        while common < limit, before[common] == after[common] { common += 1 }
        return TokenizerUnicode.string(after[common...])
    }

    /// `decode(ids)` without the trailing tokens that end in an unfinished UTF-8 character.
    private func stableScalars(_ ids: [Int], skipSpecialTokens: Bool) -> [Unicode.Scalar] {
        var pieces = keptPieces(ids, skipSpecialTokens: skipSpecialTokens)
        // Bytes of the last few tokens: enough to see an unfinished sequence (≤ 3 bytes + lead).
        var tail: [UInt8] = []
        var perToken: [Int] = []
        for p in pieces.reversed() {
            let bytes = rawBytes(p)
            tail = bytes + tail
            perToken.append(bytes.count)
            if tail.count >= 4 { break }
        }
        var unfinished = TokenizerUnicode.incompleteTailLength(tail)
        var k = 0
        while unfinished > 0, k < perToken.count {
            unfinished -= perToken[k]
            k += 1
        }
        pieces.removeLast(k)
        return decodeScalars(pieces)
    }

    /// The bytes a token stands for once decoded (`<0xXX>` → that byte; byte-level pieces →
    /// their bytes; anything else → its UTF-8).
    private func rawBytes(_ piece: [Unicode.Scalar]) -> [UInt8] {
        if let decoder {
            if decoder.hasByteFallback, let b = TokenDecoder.byteValue(piece) { return [b] }
            if decoder.hasByteLevel {
                var out: [UInt8] = []
                for c in piece {
                    guard let b = TokenizerUnicode.scalarToByte[c.value] else { return TokenizerUnicode.utf8(piece) }
                    out.append(b)
                }
                return out
            }
        }
        return TokenizerUnicode.utf8(piece)
    }

    // MARK: Loading helpers

    static func read(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw LLaVAModelError.fileUnreadable(path: path, reason: "is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "not readable")
        }
        return data
    }

    /// One `added_tokens` / `added_tokens_decoder` entry. `id` overrides a missing `id` field.
    static func addedToken(_ json: TokenizerJSON, field: String, reader: TokenizerFileReader, id: Int?) throws -> AddedToken {
        guard json.members != nil else { throw reader.invalid(field, "expected an object, found \(json.kindName)") }
        let content = try reader.string(json, "content", field: field)
        let tokenId = try id ?? reader.int(json, "id", field: field)
        let special = try reader.bool(json, "special", field: field, default: false)
        return AddedToken(id: tokenId, content: content,
                          singleWord: try reader.bool(json, "single_word", field: field, default: false),
                          lstrip: try reader.bool(json, "lstrip", field: field, default: false),
                          rstrip: try reader.bool(json, "rstrip", field: field, default: false),
                          normalized: try reader.bool(json, "normalized", field: field, default: !special),
                          special: special)
    }

    /// `chat_template` as a string, or the `default` entry of a list of named templates.
    static func chatTemplate(in json: TokenizerJSON, reader: TokenizerFileReader) throws -> String? {
        guard let value = json["chat_template"], !value.isNull else { return nil }
        if let s = value.string { return s }
        if let list = value.array {
            let named = list.compactMap { item -> (String, String)? in
                guard let n = item["name"]?.string, let t = item["template"]?.string else { return nil }
                return (n, t)
            }
            return named.first { $0.0 == "default" }?.1 ?? named.first?.1
        }
        throw reader.invalid("chat_template", "expected a string or a list of {name, template}, found \(value.kindName)")
    }
}

/// Added tokens as the reference's `AddedVocabulary::add_tokens` assigns them: content already
/// in the vocabulary (or already added) keeps that id, new content gets the next free id.
struct AddedTokenTable {
    let model: BPEModel
    let normalizer: TextNormalizer?
    var byId: [Int: AddedToken] = [:]
    var ids: [[UInt8]: Int] = [:]
    var normalizedPieces: [Int: String] = [:]

    init(model: BPEModel, normalizer: TextNormalizer?) {
        self.model = model
        self.normalizer = normalizer
    }

    func id(of content: String) -> Int? { ids[Array(content.utf8)] }

    mutating func add(_ token: AddedToken) {
        guard !token.content.isEmpty else { return }
        let key = Array(token.content.utf8)
        let id: Int
        if let existing = ids[key] ?? model.vocab[key] {
            id = existing
        } else {
            let vocabCount = model.vocab.count
            if let maxId = byId.keys.max(), maxId >= vocabCount || vocabCount == 0 {
                id = maxId + 1
            } else {
                id = vocabCount
            }
        }
        let t = AddedToken(id: id, content: token.content, singleWord: token.singleWord, lstrip: token.lstrip,
                           rstrip: token.rstrip, normalized: token.normalized, special: token.special)
        if let old = byId[id], !old.content.utf8.elementsEqual(token.content.utf8) { ids[Array(old.content.utf8)] = nil }
        byId[id] = t
        ids[key] = id
        normalizedPieces[id] = nil
        if t.normalized, let normalizer {
            var atOrigin = true
            let n = normalizer.apply(Array(t.content.unicodeScalars), atOrigin: &atOrigin)
            if !n.elementsEqual(t.content.unicodeScalars) { normalizedPieces[id] = TokenizerUnicode.string(n) }
        }
    }
}
