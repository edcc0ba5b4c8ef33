import ArgumentParser
import Contention
import Foundation

/// `adallava trace`: make contention and request traces (synthesise, record, import).
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Synthesise, record or import contention and request traces.",
        subcommands: []
    )
}
