import Foundation
import Testing
@testable import Profiling

@Suite("Provenance names the commit the binary was built from")
struct ProvenanceTests {
    /// `git` in the package directory, nil when git or the repository is missing.
    private func git(_ arguments: [String]) -> String? {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", package] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    @Test("the engine commit was fixed at build time from this tree's HEAD (the tests were built from it just now)")
    func builtCommit() throws {
        let commit = Provenance.current(threads: 1).engineCommit
        guard let head = git(["rev-parse", "--short=12", "HEAD"]) else {
            #expect(commit == "unknown")   // a tree without git: the plugin could not ask either
            return
        }
        #expect(commit == head || commit == head + "-dirty", "provenance says \(commit), HEAD is \(head)")
        #expect(builtEngineCommit == commit)   // the plugin's constant, not git asked at run time
    }
}
