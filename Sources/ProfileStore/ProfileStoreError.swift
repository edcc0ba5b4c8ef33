import Foundation
import GRDB

/// Errors of the profile store, each worded for the user who typed the command.
public enum ProfileStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A device id the database does not know; `known` lists the ids it does.
    case unknownDevice(String, known: [String])
    /// The database was written by a newer adallava (migrations this build does not know).
    case newerSchema(found: String, supported: String)
    /// Another process holds the write lock longer than the busy timeout.
    case locked(path: String)
    /// A write to a database opened read-only, or one the file system will not let us write.
    case readOnly(path: String)
    /// The file exists but is not an SQLite database (or is damaged).
    case notADatabase(path: String)
    /// An SQLite database, but not one adallava wrote (it has tables and no migration record).
    case notAProfileDatabase(path: String)
    /// The file cannot be opened or created (missing directory, permissions).
    case cannotOpen(path: String, reason: String)
    /// A run id the database does not hold.
    case unknownRun(Int64)

    public var description: String {
        switch self {
        case .unknownDevice(let id, let known):
            let list = known.isEmpty ? "the database holds no devices yet (run `adallava profile` first)"
                                     : "known devices: \(known.joined(separator: ", "))"
            return "unknown device '\(id)'; \(list)"
        case .newerSchema(let found, let supported):
            return "the profile database was written by a newer adallava (schema '\(found)', this build knows up to '\(supported)'); it was not touched — use a newer adallava or another --db"
        case .locked(let path):
            return "the profile database \(path) is locked by another process (busy timeout expired); retry when it finishes"
        case .readOnly(let path):
            return "the profile database \(path) is read-only; nothing was written"
        case .notADatabase(let path):
            return "\(path) is not an SQLite database (or it is damaged); it was not touched"
        case .notAProfileDatabase(let path):
            return "\(path) is an SQLite database but not an adallava profile database; it was not touched"
        case .cannotOpen(let path, let reason):
            return "cannot open the profile database \(path): \(reason)"
        case .unknownRun(let id):
            return "no run with id \(id) in the profile database"
        }
    }

    /// Maps SQLite's result codes to the errors above; other errors pass through unchanged.
    static func map(_ error: Error, path: String) -> Error {
        guard let db = error as? DatabaseError else { return error }
        switch db.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: return ProfileStoreError.notADatabase(path: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: return ProfileStoreError.locked(path: path)
        case .SQLITE_READONLY: return ProfileStoreError.readOnly(path: path)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            return ProfileStoreError.cannotOpen(path: path, reason: db.message ?? "\(db.resultCode)")
        default: return error
        }
    }
}
