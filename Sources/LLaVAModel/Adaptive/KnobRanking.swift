import AdaptiveInference
import Foundation
import TensorKernels

/// Where the order of knobs comes from when a budget enables only some of them.
public enum KnobRanking: Sendable {
    /// The paper's path: latency encoder → latency token → prefix layers → scheduler top-k.
    /// `schedulers` holds one per mode whose knob count the stored weights match.
    case scheduler(encoder: LatencyEncoder, schedulers: [PlanMode: Scheduler], origin: String)
    /// Training-free: a fixed order measured by `adallava calibrate` (most important first).
    case calibration(CalibrationFile, path: String)
    /// No scheduler weights and no calibration: keep the earliest switchable blocks/units.
    case defaultOrder

    /// Said in every output that reports a plan.
    public var source: String {
        switch self {
        case let .scheduler(_, _, origin): return "scheduler (\(origin))"
        case let .calibration(_, path): return "calibration (\(path))"
        case .defaultOrder: return "default order (earliest knobs first; no scheduler weights or calibration file)"
        }
    }

    /// File name a calibration is saved under, beside a checkpoint.
    public static let calibrationFileName = "adallava-calibration.json"

    /// Scheduler weights when `source` has them (all presets: synthetic), else a calibration
    /// file (`calibrationPath`, or the one beside the checkpoint), else the default order.
    public static func load(from source: WeightSource, config: LlavaConfig, layout: KnobLayout,
                            origin: String, calibrationPath: String?) throws -> KnobRanking {
        if let path = calibrationPath {
            return .calibration(try CalibrationFile.load(path: path, layout: layout), path: path)
        }
        let hidden = config.textConfig.hiddenSize
        if let first = LatencyEncoder.tensorShapes(hidden: hidden).first, source.contains(first.name) {
            let encoder = try LatencyEncoder.load(hidden: hidden) { try source.tensor($0, shape: $1) }
            var schedulers: [PlanMode: Scheduler] = [:]
            for mode in PlanMode.allCases {
                // A checkpoint is trained for one granularity; its scheduler's shape says which.
                schedulers[mode] = try? Scheduler.load(hidden: hidden, knobs: layout.knobCount(mode)) {
                    try source.tensor($0, shape: $1)
                }
            }
            if !schedulers.isEmpty { return .scheduler(encoder: encoder, schedulers: schedulers, origin: origin) }
        }
        if !(source is SyntheticWeights), let dir = (source as? CheckpointWeights)?.directory {
            let path = (dir as NSString).appendingPathComponent(calibrationFileName)
            if FileManager.default.fileExists(atPath: path) {
                return .calibration(try CalibrationFile.load(path: path, layout: layout), path: path)
            }
        }
        return .defaultOrder
    }

    /// Knob order for `mode` when no latency token is consulted (most important first).
    func staticOrder(_ mode: PlanMode, layout: KnobLayout) -> [Int] {
        switch self {
        case let .calibration(file, _):
            return mode == .layers ? file.layerOrder : file.unitOrder
        case .scheduler, .defaultOrder:
            return Array(0..<layout.knobCount(mode))
        }
    }
}
