import Foundation

/// An entry of `added_tokens` (e.g. `<s>`, `<image>`): matched in the text before the model
/// runs, so it always becomes exactly its own id.
struct AddedToken: Sendable {
    let id: Int
    let content: String
    /// Matches only when not glued to word characters on either side.
    let singleWord: Bool
    /// Swallows whitespace on its left / right.
    let lstrip: Bool
    let rstrip: Bool
    /// Matched in the normalized text (after the normalizer) rather than the raw text.
    let normalized: Bool
    /// Skipped by `decode(skipSpecialTokens: true)`.
    let special: Bool
}

/// Finds added tokens in text the way the reference's `AddedVocabulary` does: leftmost-longest
/// matching, then the `single_word`, `lstrip` and `rstrip` rules.
struct AddedTokenMatcher: Sendable {
    struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let token: AddedToken
    }
    /// Patterns by first scalar, longest first.
    private let byFirst: [Unicode.Scalar: [Pattern]]

    var isEmpty: Bool { byFirst.isEmpty }

    init(_ patterns: [Pattern]) {
        var map: [Unicode.Scalar: [Pattern]] = [:]
        for p in patterns where !p.scalars.isEmpty { map[p.scalars[0], default: []].append(p) }
        for key in map.keys { map[key]!.sort { $0.scalars.count > $1.scalars.count } }
        byFirst = map
    }

    /// Splits `text` into stretches that are added tokens (`id` set) and stretches that are not.
    func split(_ text: [Unicode.Scalar]) -> [(range: Range<Int>, id: Int?)] {
        if byFirst.isEmpty || text.isEmpty { return text.isEmpty ? [] : [(0..<text.count, nil)] }
        var out: [(range: Range<Int>, id: Int?)] = []
        var startOffset = 0  // end of the last accepted token
        var i = 0
        while i < text.count {
            guard let candidates = byFirst[text[i]],
                  let p = candidates.first(where: { Self.matches($0.scalars, text, at: i) }) else {
                i += 1
                continue
            }
            var start = i, stop = i + p.scalars.count
            let token = p.token
            i = stop  // the search resumes after this match even when it is rejected
            if token.singleWord {
                let startSpace = start == 0 || !TokenizerUnicode.isWordCharacter(text[start - 1])
                let stopSpace = stop == text.count || !TokenizerUnicode.isWordCharacter(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var s = start
                while s > 0, TokenizerUnicode.isWhitespace(text[s - 1]) { s -= 1 }
                start = max(s, startOffset)
            }
            if token.rstrip {
                while stop < text.count, TokenizerUnicode.isWhitespace(text[stop]) { stop += 1 }
                i = stop
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, token.id))
            startOffset = stop
        }
        if startOffset != text.count { out.append((startOffset..<text.count, nil)) }
        return out
    }

    @inline(__always)
    private static func matches(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + pattern.count <= text.count else { return false }
        var k = 1
        while k < pattern.count {
            if text[i + k] != pattern[k] { return false }
            k += 1
        }
        return true
    }
}
