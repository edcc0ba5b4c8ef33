import Foundation
import TensorKernels

/// The weights of a Hugging Face checkpoint directory, single-file or sharded.
///
/// The engine asks for tensors by canonical (legacy llava-hf) names such as
/// `language_model.model.layers.0.self_attn.q_proj.weight`; `resolve(_:)` maps them to
/// whatever layout the checkpoint was saved in (see `equivalentPrefixes`).
/// Shards are memory-mapped when the directory is opened; tensors are converted on demand.
public final class CheckpointWeights: @unchecked Sendable {
    /// The checkpoint directory.
    public let directory: String
    /// `model.safetensors.index.json` when the checkpoint is sharded, else nil.
    public let indexPath: String?
    /// Stored tensor name → the open file holding it.
    private let location: [String: SafeTensorsFile]

    /// Prefix groups that name the same sub-module in the llava-hf layouts. The first of each
    /// group is canonical (legacy, transformers < 4.52); the others are the modern
    /// `LlavaForConditionalGeneration` layout (`model.` in front, `lm_head` at top level) and
    /// vision towers saved without the `vision_model.` level.
    static let equivalentPrefixes: [[String]] = [
        ["language_model.model.", "model.language_model."],
        ["language_model.lm_head.", "lm_head."],
        ["vision_tower.vision_model.", "model.vision_tower.vision_model.", "vision_tower.", "model.vision_tower."],
        ["multi_modal_projector.", "model.multi_modal_projector."],
    ]

    /// Opens the checkpoint in `directory`: the shards listed by `model.safetensors.index.json`,
    /// else `model.safetensors`, else the directory's only `*.safetensors` file.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LLaVAModelError.fileUnreadable(path: directory, reason: "not a directory")
        }
        let dir = URL(fileURLWithPath: directory)
        let index = dir.appendingPathComponent("model.safetensors.index.json").path
        if fm.fileExists(atPath: index) {
            indexPath = index
            location = try Self.openShards(index: index, directory: dir)
            return
        }
        indexPath = nil
        var single = dir.appendingPathComponent("model.safetensors").path
        if !fm.fileExists(atPath: single) {
            let found = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !found.isEmpty else {
                throw LLaVAModelError.fileUnreadable(
                    path: directory, reason: "no model.safetensors or model.safetensors.index.json")
            }
            guard found.count == 1 else {
                throw LLaVAModelError.fileUnreadable(
                    path: directory,
                    reason: "\(found.count) .safetensors files (\(found.joined(separator: ", "))) but no model.safetensors.index.json saying which tensor is where")
            }
            single = dir.appendingPathComponent(found[0]).path
        }
        let file = try SafeTensorsFile(path: single)
        location = file.entries.mapValues { _ in file }
    }

    /// Reads `weight_map` and opens each shard once, checking every listed tensor is there.
    private static func openShards(index: String, directory: URL) throws -> [String: SafeTensorsFile] {
        guard let data = FileManager.default.contents(atPath: index) else {
            throw LLaVAModelError.fileUnreadable(path: index, reason: "cannot read the index file")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw LLaVAModelError.invalidConfig(path: index, field: "weight_map", reason: "the index is not a JSON object")
        }
        guard let map = root["weight_map"] as? [String: Any] else {
            throw LLaVAModelError.invalidConfig(path: index, field: "weight_map", reason: "missing, or not an object of tensor name → shard file")
        }
        var shards: [String: SafeTensorsFile] = [:]
        var location: [String: SafeTensorsFile] = [:]
        for name in map.keys.sorted() {
            guard let shardName = map[name] as? String else {
                throw LLaVAModelError.invalidConfig(path: index, field: "weight_map.\(name)", reason: "shard file name must be a string")
            }
            let shard: SafeTensorsFile
            if let open = shards[shardName] {
                shard = open
            } else {
                let shardPath = directory.appendingPathComponent(shardName).path
                guard FileManager.default.fileExists(atPath: shardPath) else {
                    throw LLaVAModelError.fileUnreadable(
                        path: shardPath, reason: "listed in \(index) for tensor '\(name)' but the file does not exist")
                }
                shard = try SafeTensorsFile(path: shardPath)
                shards[shardName] = shard
            }
            guard shard.entries[name] != nil else {
                throw LLaVAModelError.invalidConfig(
                    path: index, field: "weight_map.\(name)", reason: "shard \(shard.path) has no tensor '\(name)'")
            }
            location[name] = shard
        }
        return location
    }

    /// Every stored tensor name, sorted.
    public var storedNames: [String] { location.keys.sorted() }

    /// The stored key for `canonical`: the name itself if present, else its equivalents
    /// from `equivalentPrefixes` in table order; nil when none is stored.
    public func resolve(_ canonical: String) -> String? {
        if location[canonical] != nil { return canonical }
        for group in Self.equivalentPrefixes {
            // Longest match, so `vision_tower.vision_model.x` is not read as `vision_tower.` + `vision_model.x`.
            guard let prefix = group.filter({ canonical.hasPrefix($0) }).max(by: { $0.count < $1.count }) else { continue }
            let rest = canonical.dropFirst(prefix.count)
            for other in group where other != prefix && location[other + rest] != nil {
                return other + rest
            }
        }
        return nil
    }

    /// Whether `canonical` is stored under any accepted layout.
    public func contains(_ canonical: String) -> Bool { resolve(canonical) != nil }

    /// The stored shape of `canonical`, without converting any data; nil when absent.
    public func shape(of canonical: String) -> [Int]? {
        guard let key = resolve(canonical) else { return nil }
        return location[key]?.entries[key]?.shape
    }

    /// The tensor `canonical` as fp32, checked to have shape `expected` before converting.
    public func tensor(_ canonical: String, shape expected: [Int]) throws -> Tensor {
        let (file, key) = try locate(canonical, shape: expected)
        return try file.tensor(key)
    }

    /// The 2-D weight `canonical` stored as `dtype`; a BF16 tensor asked for as bf16 is kept
    /// as stored (no fp32 copy on the way), anything else is converted.
    public func matrix(_ canonical: String, shape expected: [Int], dtype: WeightDType) throws -> WeightMatrix {
        let (file, key) = try locate(canonical, shape: expected)
        if dtype == .bf16, expected.count == 2, let bits = try file.bf16Bits(key) {
            return WeightMatrix(rows: expected[0], cols: expected[1], bf16: bits)
        }
        return WeightMatrix(try file.tensor(key), as: dtype)
    }

    /// The file and stored key of `canonical`, checked to have shape `expected`.
    private func locate(_ canonical: String, shape expected: [Int]) throws -> (SafeTensorsFile, String) {
        guard let key = resolve(canonical), let file = location[key], let entry = file.entries[key] else {
            throw LLaVAModelError.missingTensor(path: indexPath ?? directory, tensor: canonical)
        }
        guard entry.shape == expected else {
            throw LLaVAModelError.shapeMismatch(path: file.path, tensor: key, expected: expected, found: entry.shape)
        }
        return (file, key)
    }
}
