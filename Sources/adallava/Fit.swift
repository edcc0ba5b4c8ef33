import ArgumentParser
import CostModel
import Foundation
import LLaVAModel
import Profiling
import ProfileStore

/// `adallava fit`: fit the per-op cost model on a device's profile and report its held-out error.
struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit the cost model on a stored profile and print its held-out error per op.",
        discussion: """
        Reads the profile samples of one device (and one model, or each model profiled) from \
        the database, fits one least-squares model per op, phase and thread count through GSL, \
        and stores it in the database with the ids of the runs it was trained on.

        Each op's idle time is linear in the work it does: FLOPs of its GEMMs, query-key pairs \
        of attention, elementwise passes, weight and KV-cache bytes streamed (decode). Background \
        load multiplies it by 1 + γ·(overload, busy cores / cores, GB/s × memory share), where \
        overload is the share of the op's threads that must time-share a core and memory share \
        is the part of its roofline time spent moving bytes. Four fits are tried per op \
        (ordinary, relative-weighted 1/y², precision-weighted n/std², bisquare-robust) and the \
        one with the best k-fold share within ±10% is kept; its name is in the FIT column.

        Held-out error, as fractions: k-fold (every point predicted by a model that never saw \
        it) and extrapolation (trained below the top fifth of prompt lengths or KV contexts, \
        tested on the largest), each split into idle and contended points. The targets are \
        99% within ±10% idle and 95% under contention. The safety margin (P95 of held-out \
        measured/predicted − 1) is what the planner adds to a prediction.

        The contention term uses the profiled device's core count. Thread counts are not \
        interpolated: predict at a thread count the profile measured.

        EXAMPLES
          adallava fit --db profile.sqlite
          adallava fit --db profile.sqlite --device amd-epyc-9r14-2c-1a2b3c4d --model tinyllava-1.1b --json
        """
    )

    @OptionGroup var store: ProfileDBOptions

    @Option(help: ArgumentHelp("Model whose samples to fit (default: every model profiled on the device).", valueName: "preset|dir"))
    var model: String?

    @Option(help: "Folds of the k-fold cross-validation.")
    var folds: Int = 5

    @Option(help: "Seed of the k-fold shuffle.")
    var seed: UInt64 = 1

    @Flag(help: "Report only; do not store the fitted model.")
    var noSave = false

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if folds < 2 { throw ValidationError("--folds must be at least 2, got \(folds)") }
    }

    func run() throws {
        let db = try ProfileDatabase(path: store.db, readOnly: noSave)
        let device = try store.resolveDevice(db)
        let stored = try db.samples(device: device.id, model: model)
        let models = model.map { [$0] } ?? Array(Set(stored.map(\.sample.model))).sorted()
        guard !models.isEmpty, !stored.isEmpty else {
            throw CostModelError.noSamples("device \(device.id) has no samples\(model.map { " of model '\($0)'" } ?? "") in \(store.db)")
        }
        var fits: [FitOutput] = []
        for name in models {
            let config = try modelConfig(name)
            let rows = stored.filter { $0.sample.model == name }
            let runs = Array(Set(rows.map(\.runID))).sorted()
            progress("fitting \(name): \(rows.count) samples from run(s) \(runs.map(String.init).joined(separator: ","))")
            var (cm, report) = try CostModel.fit(samples: rows.map(\.sample), model: name, config: config, trainingRuns: runs,
                                                 options: FitOptions(folds: folds, seed: seed, cores: device.cores))
            let requests = try db.requestSamples(device: device.id, model: name)
            if !requests.isEmpty {
                let (calibration, _) = try RequestCalibration.fit(model: cm, config: config, samples: requests.map(\.sample))
                cm.requestCalibration = calibration
                cm.trainingRuns = Array(Set(runs + requests.map(\.runID))).sorted()
            }
            var id: Int64?
            if !noSave {
                id = try db.saveFittedModel(device: device.id, model: name, json: Data(try cm.encodedJSON().utf8),
                                            metricsJSON: try JSONEncoder().encode(report), trainingRuns: cm.trainingRuns)
            }
            fits.append(FitOutput(model: name, modelID: id, trainingRuns: cm.trainingRuns, report: report,
                                  requestCalibration: cm.requestCalibration))
        }
        if output.json {
            print(try jsonString(FitJSON(device: device.id, fits: fits)))
            return
        }
        for f in fits { printReport(f, device: device.id) }
    }

    private func printReport(_ f: FitOutput, device: String) {
        let r = f.report
        print("cost model of \(f.model) on \(device) (\(r.folds)-fold; ±10% = share within ±10%, fractions)")
        let header = ["op", "phase", "thr", "fit", "idle pts", "cont pts", "meas CV", "idle ±10%", "idle MAPE", "idle P95",
                      "cont ±10%", "cont MAPE", "cont P95", "extrap idle ±10%", "extrap cont ±10%"]
        var rows = r.ops.map { o in
            [o.op.rawValue, o.phase.rawValue, "\(o.threads)", o.fit.rawValue, "\(o.idlePoints)", "\(o.contendedPoints)",
             pct(o.measurementCV), pct(o.kfold.idle?.within10), pct(o.kfold.idle?.mape), pct(o.kfold.idle?.p95),
             pct(o.kfold.contended?.within10), pct(o.kfold.contended?.mape), pct(o.kfold.contended?.p95),
             pct(o.extrapolation.idle?.within10), pct(o.extrapolation.contended?.within10)]
        }
        rows.append(["overall", "", "", "", "\(r.kfold.idle?.points ?? 0)", "\(r.kfold.contended?.points ?? 0)", "",
                     pct(r.kfold.idle?.within10), pct(r.kfold.idle?.mape), pct(r.kfold.idle?.p95),
                     pct(r.kfold.contended?.within10), pct(r.kfold.contended?.mape), pct(r.kfold.contended?.p95),
                     pct(r.extrapolation.idle?.within10), pct(r.extrapolation.contended?.within10)])
        print(markdownTable(header: header, rows: rows))
        print("meas CV: median std/median of the repeats at one point (the noise floor no fit gets under)")
        for s in r.skipped { print("not fitted: \(s.op.rawValue) \(s.phase.rawValue) t\(s.threads): \(s.reason)") }
        print("held-out within ±10%: idle \(pct(r.kfold.idle?.within10)) (target 0.99), contended \(pct(r.kfold.contended?.within10)) (target 0.95): \(r.meetsTargets ? "meets the targets" : "BELOW target")")
        print("per-op safety margin (P95 of held-out measured/predicted − 1): idle \(pct(r.relativeMarginIdle)), contended \(pct(r.relativeMarginContended))")
        if let c = f.requestCalibration {
            func line(_ name: String, _ s: RequestCalibration.State?) -> String {
                guard let s else { return "\(name): no whole requests timed" }
                let lo = s.ratios.first!, hi = s.ratios.last!
                return "\(name): \(s.count) requests took \(String(format: "%.3f", s.prefillScale))× the sum of their ops to the first token and "
                    + "\(String(format: "%.3f", s.decodeScale))× after it (medians); around that, "
                    + "\(String(format: "%.2f–%.2f", lo, hi)) (min–max), margin \(pct(s.margin)) (P95 − 1)"
            }
            print("end-to-end calibration (whole requests the profile timed; predictions are scaled by it and take its margin):")
            print("  " + line("idle", c.idle))
            print("  " + line("contended", c.contended))
        } else {
            print("end-to-end calibration: none (the profile timed no whole requests; `profile --requests N` does)")
        }
        print(f.modelID.map { "stored as fitted model \($0) (training runs \(f.trainingRuns.map(String.init).joined(separator: ",")))" } ?? "not stored (--no-save)")
        print("")
    }
}

/// A fraction with three decimals, or "-" when there were no such points.
func pct(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }

struct FitOutput: Encodable {
    var model: String
    var modelID: Int64?
    var trainingRuns: [Int64]
    var report: FitReport
    var requestCalibration: RequestCalibration?
    enum CodingKeys: String, CodingKey {
        case model, modelID = "fitted_model_id", trainingRuns = "training_runs", report, requestCalibration = "request_calibration"
    }
}

struct FitJSON: Encodable {
    var device: String
    var fits: [FitOutput]
}

/// `--db` and `--device`, shared by the verbs that read a profile database.
struct ProfileDBOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Profile database (SQLite) written by `adallava profile`.", valueName: "file"))
    var db: String = "profile.sqlite"

    @Option(help: ArgumentHelp("Device id (see `adallava device`; default: the only device in the database, else this machine's).", valueName: "id"))
    var device: String?

    /// The device asked for, the database's only one, or this machine's.
    func resolveDevice(_ db: ProfileDatabase) throws -> DeviceFingerprint {
        if let device { return try db.device(id: device) }
        let all = try db.devices()
        if all.count == 1 { return all[0] }
        return try db.device(id: DeviceFingerprint.current().id)
    }
}

/// Shapes of a model by preset name or checkpoint directory (config.json only; no weights read).
func modelConfig(_ name: String) throws -> LlavaConfig {
    do { return try ModelSpec.resolve(name).config } catch { throw CostModelError.unknownModel(name) }
}
