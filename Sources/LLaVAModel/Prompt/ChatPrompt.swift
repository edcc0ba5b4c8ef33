import Foundation

/// Builds the prompt a LLaVA-1.5 checkpoint was trained on and turns it into token ids.
///
/// LLaVA-1.5's conversation template (`conv_vicuna_v1` without a system prompt, as llava-hf's
/// `chat_template` renders a single user turn) is `USER: <image>\n{question} ASSISTANT:`.
/// A checkpoint's Jinja `chat_template` is recognised when it is this template (it ends the
/// prompt with `ASSISTANT:` and names the user `USER`, or upper-cases the role as llava-hf's does); other templates would need a Jinja engine, which adallava does
/// not carry, so they are reported and the LLaVA-1.5 template is used.
public struct ChatPrompt: Sendable {
    /// The marker the template puts where the image goes.
    public static let imageMarker = "<image>"

    /// The rendered text.
    public let text: String
    /// Which template produced it, for the report.
    public let template: String

    /// One user turn; `withImage` puts `<image>\n` first, as LLaVA does (a question that
    /// already holds `<image>` keeps it where it is).
    public init(question: String, withImage: Bool, chatTemplate: String?) {
        var body = question
        if withImage && !question.contains(Self.imageMarker) { body = Self.imageMarker + "\n" + question }
        text = "USER: \(body) ASSISTANT:"
        switch chatTemplate {
        case nil: template = "llava-1.5 (USER: … ASSISTANT:)"
        // llava-hf's template writes the user role as `message['role'].upper() + ': '`.
        case let t? where t.contains("ASSISTANT:") && (t.contains("USER") || t.contains(".upper()")):
            template = "checkpoint chat_template (llava-1.5 form)"
        case _?: template = "llava-1.5 (USER: … ASSISTANT:); the checkpoint's chat_template is not of this form and is not rendered (no Jinja engine)"
        }
    }

    /// Token ids for the prompt: the tokenizer's own encoding when it knows `<image>` (as the
    /// Hugging Face processor does), else the text around each marker encoded separately with
    /// `imageTokenIndex` between (as LLaVA's `tokenizer_image_token` does).
    public func tokenIds(tokenizer: Tokenizer, imageTokenIndex: Int) -> [Int] {
        if let id = tokenizer.tokenId(Self.imageMarker) {
            return tokenizer.encode(text).map { $0 == id ? imageTokenIndex : $0 }
        }
        let parts = text.components(separatedBy: Self.imageMarker)
        var ids: [Int] = []
        for (i, part) in parts.enumerated() {
            if i > 0 { ids.append(imageTokenIndex) }
            let encoded = tokenizer.encode(part, addSpecialTokens: i == 0)
            ids += encoded
        }
        return ids
    }
}
