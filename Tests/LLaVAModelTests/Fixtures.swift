import Foundation

/// Paths of the committed golden fixtures (made by `scripts/make_golden.py`).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `Tests/Fixtures/<name>` as a path string.
    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
}
