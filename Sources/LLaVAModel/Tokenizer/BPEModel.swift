import Foundation

/// The `BPE` model of `tokenizer.json`: a vocabulary plus ranked merges.
///
/// A word starts as one symbol per Unicode scalar (a scalar missing from the vocabulary
/// becomes its UTF-8 byte tokens `<0xXX>` under `byte_fallback`, else `unk_token`), then the
/// adjacent pair with the lowest merge rank is merged, leftmost first, until no pair has a
/// merge — the reference's priority-queue algorithm, reproduced step for step.
final class BPEModel: Sendable {
    /// Token bytes → id. Keyed by UTF-8 bytes, not `String`, so that canonically equivalent
    /// but distinct tokens stay distinct.
    let vocab: [[UInt8]: Int]
    /// id → token, for ids the vocabulary defines.
    let tokens: [Int: String]
    /// Single-scalar tokens, the common case when a word is split into its first symbols.
    private let scalarIds: [Unicode.Scalar: Int]
    /// `(left << 32 | right)` → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    /// `<0xXX>` token ids when `byte_fallback` is on.
    private let byteIds: [Int]?
    let unkId: Int?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: [UInt8]?
    let endOfWordSuffix: [UInt8]?
    private let cache = BPECache(capacity: 10_000)

    /// Words at least this long (in UTF-8 bytes) are not cached, as in the reference.
    static let maxCachedWordBytes = 256

    /// Reads the `model` object. `llamaRebuild` applies transformers 5's `LlamaTokenizer`
    /// constructor instead of the file's options: byte fallback on, unknowns fused, no
    /// `unk_token`, no `ignore_merges`, no subword prefix or suffix.
    init(json: TokenizerJSON, reader: TokenizerFileReader, llamaRebuild: Bool = false) throws {
        let field = "model"
        guard let vocabMembers = json["vocab"]?.members else {
            throw reader.invalid("model.vocab", json["vocab"] == nil ? "missing" : "expected an object of token → id")
        }
        var vocab: [[UInt8]: Int] = [:]
        vocab.reserveCapacity(vocabMembers.count)
        var tokens: [Int: String] = [:]
        tokens.reserveCapacity(vocabMembers.count)
        var scalarIds: [Unicode.Scalar: Int] = [:]
        for (token, value) in vocabMembers {
            guard let id = value.int, id >= 0, id <= Int(Int32.max) else {
                throw reader.invalid("model.vocab", "token '\(token)' has id \(value.kindName == "a number" ? "\(value.number ?? 0)" : value.kindName), expected a non-negative integer")
            }
            vocab[Array(token.utf8)] = id
            tokens[id] = token
            let scalars = token.unicodeScalars
            if scalars.count == 1 { scalarIds[scalars.first!] = id }
        }

        var prefix = try reader.optionalString(json, "continuing_subword_prefix", field: field).map { Array($0.utf8) }
        var suffix = try reader.optionalString(json, "end_of_word_suffix", field: field).map { Array($0.utf8) }
        if llamaRebuild { prefix = nil; suffix = nil }

        // Merges: ["a b", …] (older files) or [["a", "b"], …].
        let mergeItems = try reader.array(json, "merges", field: field)
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergeItems.count)
        var rank: Int32 = 0
        for (index, item) in mergeItems.enumerated() {
            let left: String, right: String
            if let line = item.string {
                if line.hasPrefix("#version") { continue }  // a merges.txt header pasted in
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw reader.invalid("model.merges[\(index)]", "'\(line)' is not two tokens separated by one space")
                }
                left = String(parts[0]); right = String(parts[1])
            } else if let pair = item.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                left = a; right = b
            } else {
                throw reader.invalid("model.merges[\(index)]", "expected \"a b\" or [\"a\", \"b\"], found \(item.kindName)")
            }
            let l = Array(left.utf8), r = Array(right.utf8)
            guard let lid = vocab[l] else { throw reader.invalid("model.merges[\(index)]", "token '\(left)' is not in the vocabulary") }
            guard let rid = vocab[r] else { throw reader.invalid("model.merges[\(index)]", "token '\(right)' is not in the vocabulary") }
            // The reference drops the prefix's length from the right token unconditionally.
            let merged = l + r.dropFirst(prefix?.count ?? 0)
            guard let mid = vocab[merged] else {
                throw reader.invalid("model.merges[\(index)]", "merged token '\(String(decoding: merged, as: UTF8.self))' is not in the vocabulary")
            }
            // A repeated pair keeps its last rank, as the reference's map insertion does.
            merges[UInt64(lid) << 32 | UInt64(rid)] = (rank, Int32(mid))
            rank += 1
        }

        let unkToken = llamaRebuild ? nil : try reader.optionalString(json, "unk_token", field: field)
        let unkId = unkToken.flatMap { vocab[Array($0.utf8)] }
        let byteFallback = try llamaRebuild || reader.bool(json, "byte_fallback", field: field, default: false)
        var byteIds: [Int]? = nil
        if byteFallback {
            var ids: [Int] = []
            for b in 0..<256 {
                guard let id = vocab[Array(Self.byteToken(UInt8(b)).utf8)] else { ids = []; break }
                ids.append(id)
            }
            // Missing byte tokens: the reference falls back per character; keep that path exact.
            byteIds = ids.count == 256 ? ids : nil
            self.partialByteIds = ids.count == 256 ? nil : Dictionary(uniqueKeysWithValues: (0..<256).compactMap { b in
                vocab[Array(Self.byteToken(UInt8(b)).utf8)].map { (UInt8(b), $0) }
            })
        } else {
            self.partialByteIds = nil
        }
        // An `unk_token` missing from the vocabulary loads (the reference fails only when an
        // unknown character needs it); here such characters are then dropped.
        if let d = json["dropout"]?.number, !(0...1).contains(d) {
            throw reader.invalid("model.dropout", "\(d) is outside [0, 1]")
        }

        self.vocab = vocab
        self.tokens = tokens
        self.scalarIds = scalarIds
        self.merges = merges
        self.byteIds = byteIds
        self.unkId = unkId
        self.fuseUnk = try llamaRebuild || reader.bool(json, "fuse_unk", field: field, default: false)
        self.ignoreMerges = try !llamaRebuild && reader.bool(json, "ignore_merges", field: field, default: false)
        self.continuingSubwordPrefix = prefix
        self.endOfWordSuffix = suffix
        self.byteFallback = byteFallback
    }

    let byteFallback: Bool
    /// Byte tokens when only some of the 256 exist (then a character falls back only if all
    /// of its bytes have tokens).
    private let partialByteIds: [UInt8: Int]?

    /// `<0xXX>`, the spelling SentencePiece uses for byte tokens.
    static func byteToken(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x\(hex.count == 1 ? "0" + hex : hex)>"
    }

    func id(of token: String) -> Int? { vocab[Array(token.utf8)] }

    /// Token ids for one pre-tokenized word.
    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        let key = TokenizerUnicode.utf8(word)
        if ignoreMerges, let id = vocab[key] { return [id] }
        if let hit = cache.get(key) { return hit }
        let ids = merge(word)
        if key.count < Self.maxCachedWordBytes { cache.set(key, ids) }
        return ids
    }

    /// The reference's `merge_word` followed by `Word::merge_all` (without dropout).
    private func merge(_ word: [Unicode.Scalar]) -> [Int] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var pendingUnk = false
        for (i, scalar) in word.enumerated() {
            let isFirst = i == 0, isLast = i == word.count - 1
            var id: Int?
            if (continuingSubwordPrefix == nil || isFirst) && (endOfWordSuffix == nil || !isLast) {
                id = scalarIds[scalar]
            } else {
                var piece: [UInt8] = []
                if !isFirst, let p = continuingSubwordPrefix { piece += p }
                TokenizerUnicode.appendUTF8(scalar, to: &piece)
                if isLast, let s = endOfWordSuffix { piece += s }
                id = vocab[piece]
            }
            if let id {
                if pendingUnk, let unkId { symbols.append(Int32(unkId)); pendingUnk = false }
                symbols.append(Int32(id))
                continue
            }
            if byteFallback {
                var bytes: [UInt8] = []
                TokenizerUnicode.appendUTF8(scalar, to: &bytes)
                // The reference looks up the bytes of the (prefixed/suffixed) piece.
                if (!isFirst && continuingSubwordPrefix != nil) || (isLast && endOfWordSuffix != nil) {
                    var piece: [UInt8] = []
                    if !isFirst, let p = continuingSubwordPrefix { piece += p }
                    piece += bytes
                    if isLast, let s = endOfWordSuffix { piece += s }
                    bytes = piece
                }
                if let byteIds {
                    // Note: a pending unknown token is not flushed first, as in the reference.
                    for b in bytes { symbols.append(Int32(byteIds[Int(b)])) }
                    continue
                }
                if let partial = partialByteIds, bytes.allSatisfy({ partial[$0] != nil }) {
                    for b in bytes { symbols.append(Int32(partial[b]!)) }
                    continue
                }
            }
            guard let unkId else { continue }  // no unknown token: the character is dropped
            if pendingUnk && fuseUnk { continue }
            if pendingUnk { symbols.append(Int32(unkId)) }
            pendingUnk = true
        }
        if pendingUnk, let unkId { symbols.append(Int32(unkId)) }
        return mergeAll(symbols)
    }

    /// Applies merges lowest rank first (ties: leftmost), via a heap of candidate pairs and a
    /// linked list of live symbols; stale heap entries are skipped when popped.
    private func mergeAll(_ ids: [Int32]) -> [Int] {
        let n = ids.count
        if n < 2 { return ids.map(Int.init) }
        var c = ids
        var prev = [Int](0..<n).map { $0 - 1 }
        var next = [Int](1...n).map { $0 == n ? -1 : $0 }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges[UInt64(UInt32(c[i])) << 32 | UInt64(UInt32(c[i + 1]))] {
                heap.push(.init(rank: m.rank, pos: i, id: m.id))
            }
        }
        while let top = heap.pop() {
            let pos = top.pos
            guard alive[pos], next[pos] != -1 else { continue }
            let right = next[pos]
            guard let m = merges[UInt64(UInt32(c[pos])) << 32 | UInt64(UInt32(c[right]))], m.id == top.id else { continue }
            c[pos] = top.id
            alive[right] = false
            next[pos] = next[right]
            if next[right] != -1 { prev[next[right]] = pos }
            if prev[pos] >= 0 {
                let p = prev[pos]
                if let m = merges[UInt64(UInt32(c[p])) << 32 | UInt64(UInt32(c[pos]))] {
                    heap.push(.init(rank: m.rank, pos: p, id: m.id))
                }
            }
            if next[pos] != -1 {
                if let m = merges[UInt64(UInt32(c[pos])) << 32 | UInt64(UInt32(c[next[pos]]))] {
                    heap.push(.init(rank: m.rank, pos: pos, id: m.id))
                }
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i != -1 { out.append(Int(c[i])); i = next[i] }
        return out
    }
}

/// A binary min-heap of merge candidates ordered by (rank, position).
private struct MergeHeap {
    struct Entry { let rank: Int32; let pos: Int; let id: Int32 }
    private var items: [Entry] = []

    @inline(__always) private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos
    }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, Self.less(items[l], items[m]) { m = l }
                if r < items.count, Self.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}

/// Word → ids memo shared by all threads; bounded (stops growing when full, as the
/// reference's cache does).
final class BPECache: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [[UInt8]: [Int]] = [:]
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ key: [UInt8]) -> [Int]? {
        lock.lock(); defer { lock.unlock() }
        return storage[key]
    }

    func set(_ key: [UInt8], _ value: [Int]) {
        lock.lock(); defer { lock.unlock() }
        if storage.count < capacity { storage[key] = value }
    }
}
