import Foundation
import Testing
@testable import LLaVAModel

@Suite("config.json is read in the checkpoint's own words")
struct ConfigTests {
    let path = "/tmp/config.json"

    func decode(_ json: String) throws -> LlavaConfig {
        try LlavaConfig.decode(Data(json.utf8), path: path)
    }

    @Test("absent fields take the reference implementation's defaults")
    func defaults() throws {
        let c = try decode(#"{"model_type": "llava", "text_config": {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 100}}"#)
        #expect(c.textConfig.numKeyValueHeads == 4)
        #expect(c.textConfig.headDim == 16)
        #expect(c.textConfig.rmsNormEps == 1e-6)
        #expect(c.textConfig.ropeTheta == 10_000)
        #expect(c.textConfig.hiddenAct == "silu")
        #expect(c.visionConfig == .llavaDefault)
        #expect(c.imageTokenIndex == 32000)
        #expect(c.projectorHiddenAct == "gelu")
        #expect(c.visionFeatureLayers == [-2])
        #expect(c.visionFeatureSelectStrategy == "default")
        #expect(c.imageFeatureTokens == 576)
        #expect(c.visionLayersToRun == 23)
    }

    @Test("newer spellings are accepted: image_token_id, rope_parameters, a list of eos ids")
    func newerSpellings() throws {
        let c = try decode(#"{"model_type": "llava", "image_token_id": 7, "text_config": {"vocab_size": 100, "hidden_size": 64, "num_attention_heads": 4, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}, "eos_token_id": [5, 6]}}"#)
        #expect(c.imageTokenIndex == 7)
        #expect(c.textConfig.ropeTheta == 500_000)
        #expect(c.textConfig.eosTokenId == 5)
    }

    @Test("a preset's config survives an encode/decode round trip", arguments: Preset.allCases)
    func presetRoundTrip(preset: Preset) throws {
        let data = try JSONEncoder().encode(preset.config)
        #expect(try LlavaConfig.decode(data, path: path) == preset.config)
    }

    @Test("garbled JSON names the file")
    func garbled() {
        #expect(throws: LLaVAModelError.self) { try decode("{\"model_type\": ") }
        do { _ = try decode("{\"model_type\": ") } catch { #expect("\(error)".contains(path)) }
    }

    @Test("a field of the wrong type is named with its dotted path")
    func wrongType() {
        do {
            _ = try decode(#"{"model_type": "llava", "text_config": {"hidden_size": "big"}}"#)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "\(path): field 'text_config.hidden_size': expected an integer")
        }
    }

    @Test("unknown model types are rejected with the field and the accepted values",
          arguments: [(#"{"model_type": "bert"}"#, "model_type"),
                      (#"{"model_type": "llava", "text_config": {"model_type": "mistral"}}"#, "text_config.model_type"),
                      (#"{"model_type": "llava", "vision_config": {"model_type": "siglip_vision_model"}}"#, "vision_config.model_type")])
    func unknownModelType(json: String, field: String) {
        do {
            _ = try decode(json)
            Issue.record("expected an error")
        } catch let error as LLaVAModelError {
            guard case let .unsupportedModelType(_, f, _, _) = error else { Issue.record("\(error)"); return }
            #expect(f == field)
        } catch { Issue.record("\(error)") }
    }

    @Test("inconsistent shapes fail validation, naming the field",
          arguments: [(#"{"text_config": {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 3}}"#, "text_config.num_key_value_heads"),
                      (#"{"vision_config": {"image_size": 30, "patch_size": 7}}"#, "vision_config.image_size"),
                      (#"{"text_config": {"hidden_size": -1}}"#, "text_config.hidden_size"),
                      (#"{"projector_hidden_act": "mish"}"#, "projector_hidden_act"),
                      (#"{"vision_feature_layer": 99}"#, "vision_feature_layer"),
                      (#"{"text_config": {"rope_scaling": {"rope_type": "yarn"}}}"#, "text_config.rope_scaling")])
    func invalidShapes(json: String, field: String) {
        do {
            _ = try decode(json)
            Issue.record("expected an error for \(field)")
        } catch let error as LLaVAModelError {
            guard case let .invalidConfig(p, f, _) = error else { Issue.record("\(error)"); return }
            #expect(p == path)
            #expect(f == field)
        } catch { Issue.record("\(error)") }
    }

    @Test("a missing config.json is reported as such")
    func missingFile() {
        #expect(throws: LLaVAModelError.fileUnreadable(path: "/nonexistent/config.json", reason: "no such file")) {
            try LlavaConfig.load(path: "/nonexistent/config.json")
        }
    }
}

@Suite("the LLaVA-1.5 prompt template")
struct ChatPromptTests {
    /// llava-hf/llava-1.5-7b-hf's chat_template (a single user turn renders as USER: <image>\n… ASSISTANT:).
    static let llavaHF = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"

    @Test("an image question renders as USER: <image>\\n… ASSISTANT: and llava-hf's template is recognised")
    func rendersLlavaTemplate() {
        let p = ChatPrompt(question: "What is shown?", withImage: true, chatTemplate: Self.llavaHF)
        #expect(p.text == "USER: <image>\nWhat is shown? ASSISTANT:")
        #expect(p.template == "checkpoint chat_template (llava-1.5 form)")
        #expect(ChatPrompt(question: "Hi", withImage: false, chatTemplate: nil).text == "USER: Hi ASSISTANT:")
        #expect(ChatPrompt(question: "Hi", withImage: false, chatTemplate: "{{ bos }}<|im_start|>").template.contains("not rendered"))
    }
}
