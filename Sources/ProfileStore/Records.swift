import Foundation
import Profiling

/// Lifecycle of a profile run. A run stays `running` while rows arrive; a killed process
/// leaves it `running` (SIGKILL) or `interrupted` (SIGINT/SIGTERM), and `--resume` continues it.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, complete, interrupted, failed
}

/// One row of `runs`: an invocation of the profiler and everything needed to trace its rows.
public struct RunRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var device: String
    public var model: String
    /// JSON of the profile settings (threads, contention levels, grid, repeat policy).
    public var config: String
    public var status: RunStatus
    /// ISO 8601 start and end (end nil while running or after a kill).
    public var started: String
    public var finished: String?
    public var provenance: Provenance

    enum CodingKeys: String, CodingKey {
        case id, device, model, config, status, started, finished, provenance
    }
}

/// A stored sample with the run it belongs to.
public struct StoredSample: Sendable, Equatable {
    public var runID: Int64
    public var sample: ProfileSample

    public init(runID: Int64, sample: ProfileSample) {
        self.runID = runID
        self.sample = sample
    }
}

/// A cost model stored beside the rows it was fitted on.
public struct FittedModelRecord: Sendable, Equatable {
    public var id: Int64
    public var device: String
    public var model: String
    /// ISO 8601 time it was saved.
    public var created: String
    /// The model itself, as the cost model serialised it.
    public var json: Data
    /// Its held-out error metrics, as JSON.
    public var metricsJSON: Data
    /// Runs whose samples it was fitted on.
    public var trainingRuns: [Int64]
}
