import Foundation

/// Reads typed fields out of a parsed tokenizer file; every error names the file and the
/// dotted field path (`pre_tokenizer.pretokenizers[1].behavior`) and says what was expected.
struct TokenizerFileReader {
    let path: String

    func invalid(_ field: String, _ reason: String) -> LLaVAModelError {
        .invalidConfig(path: path, field: field, reason: reason)
    }

    func unsupported(field: String, kind: String, found: String, supported: [String]) -> LLaVAModelError {
        invalid(field, "unsupported \(kind) '\(found)' (supported: \(supported.joined(separator: ", ")))")
    }

    /// Parses JSON bytes, turning a syntax error into one that names the file.
    func parse(_ data: Data) throws -> TokenizerJSON {
        do {
            return try TokenizerJSON.parse(data)
        } catch {
            throw invalid("(document)", "not valid JSON (\(error))")
        }
    }

    func join(_ field: String, _ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }

    /// The `type` member of a component object.
    func type(of json: TokenizerJSON, field: String) throws -> String {
        guard json.members != nil else { throw invalid(field, "expected an object, found \(json.kindName)") }
        guard let t = json["type"] else { throw invalid(join(field, "type"), "missing") }
        guard let s = t.string else { throw invalid(join(field, "type"), "expected a string, found \(t.kindName)") }
        return s
    }

    func string(_ json: TokenizerJSON, _ key: String, field: String) throws -> String {
        guard let v = json[key], !v.isNull else { throw invalid(join(field, key), "missing") }
        guard let s = v.string else { throw invalid(join(field, key), "expected a string, found \(v.kindName)") }
        return s
    }

    func optionalString(_ json: TokenizerJSON, _ key: String, field: String) throws -> String? {
        guard let v = json[key], !v.isNull else { return nil }
        guard let s = v.string else { throw invalid(join(field, key), "expected a string or null, found \(v.kindName)") }
        return s
    }

    func bool(_ json: TokenizerJSON, _ key: String, field: String, default value: Bool) throws -> Bool {
        guard let v = json[key], !v.isNull else { return value }
        guard let b = v.bool else { throw invalid(join(field, key), "expected true or false, found \(v.kindName)") }
        return b
    }

    func int(_ json: TokenizerJSON, _ key: String, field: String) throws -> Int {
        guard let v = json[key], !v.isNull else { throw invalid(join(field, key), "missing") }
        guard let i = v.int else { throw invalid(join(field, key), "expected an integer, found \(v.kindName)") }
        return i
    }

    func array(_ json: TokenizerJSON, _ key: String, field: String) throws -> [TokenizerJSON] {
        guard let v = json[key], !v.isNull else { throw invalid(join(field, key), "missing") }
        guard let a = v.array else { throw invalid(join(field, key), "expected an array, found \(v.kindName)") }
        return a
    }

    /// A single character (the reference stores `char`s as one-character strings).
    func scalar(_ json: TokenizerJSON, _ key: String, field: String, default value: Unicode.Scalar? = nil) throws -> Unicode.Scalar {
        guard let v = json[key], !v.isNull else {
            if let value { return value }
            throw invalid(join(field, key), "missing")
        }
        guard let s = v.string else { throw invalid(join(field, key), "expected a one-character string, found \(v.kindName)") }
        let scalars = Array(s.unicodeScalars)
        guard scalars.count == 1 else { throw invalid(join(field, key), "expected exactly one character, found '\(s)'") }
        return scalars[0]
    }

    /// `{"String": "…"}` or `{"Regex": "…"}` under `pattern`.
    func pattern(_ json: TokenizerJSON, field: String) throws -> TextPattern {
        let f = join(field, "pattern")
        guard let p = json["pattern"], !p.isNull else { throw invalid(f, "missing") }
        if let s = p["String"]?.string { return .literal(s) }
        if let r = p["Regex"]?.string {
            guard let compiled = TextPattern.regex(r) else { throw invalid("\(f).Regex", "regular expression '\(r)' could not be compiled") }
            return compiled
        }
        throw invalid(f, "expected {\"String\": …} or {\"Regex\": …}")
    }
}
