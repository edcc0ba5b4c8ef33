import GRDB
import Profiling

// The profile database (GRDB over SQLite): devices, runs, samples, fitted models. See the
// schema in Migrations.swift.
