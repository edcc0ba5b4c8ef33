import ArgumentParser
import Foundation
import ProfileStore

/// `adallava export`: a device's profile as CSV, JSON and a Markdown summary.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a device's profile rows as samples.csv, samples.json and summary.md.",
        discussion: """
        Writes into --out (created when missing):
          samples.csv   one row per measured point, with its run's provenance (engine commit, \
        build, BLAS, kernel, run status, command line); '#' header lines name the device
          samples.json  the device fingerprint, its runs and every sample
          summary.md    device and runs, then per op and phase: points, shape ranges, repeats \
        and the spread of the repeats

        The database is opened read-only. An unknown --device lists the ids the database holds \
        (`adallava device` prints this machine's).

        EXAMPLE
          adallava export --db profile.sqlite --device amd-epyc-2c-d14c35bc --out profiles/amd-epyc-2c-d14c35bc/
        """
    )

    @Option(help: ArgumentHelp("Profile database.", valueName: "file"))
    var db: String = "profile.sqlite"

    @Option(help: ArgumentHelp("Device id (see `adallava device`).", valueName: "id"))
    var device: String

    @Option(help: ArgumentHelp("Only this model's rows (default: every model of the device).", valueName: "name"))
    var model: String?

    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
    var out: String

    func run() throws {
        let database = try ProfileDatabase(path: db, readOnly: true)
        let written = try ProfileExport.write(database: database, device: device, model: model, to: out)
        print("exported \(written.samples) samples of \(written.runs) run(s) of \(device) to \(out) (\(ProfileExport.files.joined(separator: ", ")))")
    }
}
