import GRDB

/// The schema, one migration per change. Migration ids are never renamed or reordered: a
/// database records the ids applied to it, and one holding ids this list lacks was written by
/// a newer adallava (refused, never touched).
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-devices-runs-samples-models") { db in
            try db.execute(sql: """
                CREATE TABLE devices (
                    id TEXT PRIMARY KEY NOT NULL,
                    cpu_model TEXT NOT NULL, cores INTEGER NOT NULL, simd TEXT NOT NULL, caches TEXT NOT NULL,
                    memory_bytes INTEGER NOT NULL, kernel TEXT NOT NULL,
                    blas_name TEXT NOT NULL, blas_config TEXT NOT NULL, blas_threads INTEGER NOT NULL,
                    swift_version TEXT NOT NULL, build TEXT NOT NULL, engine_commit TEXT NOT NULL,
                    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL
                );
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    model TEXT NOT NULL,
                    config TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
                    started TEXT NOT NULL, finished TEXT,
                    -- provenance, copied so a row stays traceable if the device row is updated
                    cpu_model TEXT NOT NULL, cores INTEGER NOT NULL, simd TEXT NOT NULL, memory_bytes INTEGER NOT NULL,
                    kernel TEXT NOT NULL, blas TEXT NOT NULL, threads INTEGER NOT NULL,
                    engine_commit TEXT NOT NULL, build TEXT NOT NULL, date TEXT NOT NULL, command TEXT NOT NULL
                );
                CREATE INDEX runs_device_model ON runs(device_id, model);
                CREATE TABLE samples (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    model TEXT NOT NULL, op TEXT NOT NULL, phase TEXT NOT NULL,
                    tokens INTEGER NOT NULL, context INTEGER NOT NULL, heads INTEGER NOT NULL,
                    neurons INTEGER NOT NULL, threads INTEGER NOT NULL,
                    contention_cpu REAL NOT NULL, contention_bw REAL NOT NULL,
                    achieved_cpu REAL NOT NULL, achieved_bw REAL NOT NULL,
                    flops REAL NOT NULL, bytes REAL NOT NULL,
                    min_ms REAL NOT NULL, median_ms REAL NOT NULL, mean_ms REAL NOT NULL, std_ms REAL NOT NULL,
                    p90_ms REAL NOT NULL, p99_ms REAL NOT NULL, n INTEGER NOT NULL
                );
                -- one row per measured point of a run: a resumed run cannot store a point twice
                CREATE UNIQUE INDEX samples_point ON samples(
                    run_id, op, phase, tokens, context, heads, neurons, threads, contention_cpu, contention_bw);
                CREATE INDEX samples_device_model ON samples(device_id, model);
                CREATE TABLE fitted_models (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    model TEXT NOT NULL,
                    created TEXT NOT NULL,
                    json BLOB NOT NULL,
                    metrics_json BLOB NOT NULL,
                    training_runs TEXT NOT NULL
                );
                CREATE INDEX fitted_models_device_model ON fitted_models(device_id, model);
                """)
        }
        // Whole requests timed end to end beside the op samples: what `fit` calibrates the
        // sum of per-op predictions against (see `RequestSample`).
        m.registerMigration("v2-request-samples") { db in
            try db.execute(sql: """
                CREATE TABLE request_samples (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    model TEXT NOT NULL, plan TEXT NOT NULL,
                    prompt_tokens INTEGER NOT NULL, has_image INTEGER NOT NULL, image_tokens INTEGER,
                    latency_token INTEGER NOT NULL, new_tokens INTEGER NOT NULL, threads INTEGER NOT NULL,
                    contention_cpu REAL NOT NULL, contention_bw REAL NOT NULL,
                    achieved_cpu REAL NOT NULL, achieved_bw REAL NOT NULL,
                    measured_ms REAL NOT NULL, ttft_ms REAL NOT NULL
                );
                CREATE INDEX request_samples_device_model ON request_samples(device_id, model);
                """)
        }
        return m
    }
}
