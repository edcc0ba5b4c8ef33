#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A running background load: `adallava stress` in a child process, reporting what it achieves.
///
/// The child is spawned (posix_spawn) from a thread this object owns, which then reads the
/// child's JSON report lines until they end. That thread lives exactly as long as the child,
/// which matters because the child asks the kernel (PR_SET_PDEATHSIG) to kill it when the
/// thread that spawned it exits: if this process dies, so does its load. The child also stops
/// on SIGINT/SIGTERM and after `--max-seconds`.
public final class BackgroundLoad: @unchecked Sendable {
    /// The child's process id.
    public let pid: pid_t
    private let sink: ReportSink
    private let lock = NSLock()
    private var exited = false

    /// Seconds between the child's reports.
    public static let reportInterval = 0.1
    /// The child's own time limit, so a forgotten load ends by itself.
    public static let maxSeconds = 3600.0

    /// Spawns `<executable> stress --level L --report-interval … --json` and returns once it
    /// is running (its threads started and buffer written). `executable` defaults to this
    /// process's own binary (`/proc/self/exe`), i.e. `adallava`.
    public static func start(level: ContentionLevel, executable: URL? = nil) throws -> BackgroundLoad {
        try BackgroundLoad(arguments: ["--level", level.description], executable: executable)
    }

    /// Same, replaying the trace file in real time from now (for `duration` seconds, or the
    /// trace's length; the last level holds past its end).
    public static func start(trace: URL, executable: URL? = nil, duration: Double? = nil) throws -> BackgroundLoad {
        _ = try ContentionTrace.load(trace)  // a bad trace is the caller's error, reported here
        var args = ["--trace", trace.path]
        if let duration { args += ["--duration", "\(duration)"] }
        return try BackgroundLoad(arguments: args, executable: executable)
    }

    private init(arguments: [String], executable: URL?) throws {
        let path = executable?.path ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ContentionError.stress("cannot run the stress generator: \(path) is not an executable")
        }
        let argv = [path, "stress"] + arguments + [
            "--report-interval", "\(Self.reportInterval)", "--max-seconds", "\(Self.maxSeconds)",
            "--json", "--parent-pid", "\(getpid())",
        ]
        let sink = ReportSink()
        let spawned = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<pid_t, ContentionError>?
        let reader = Thread {
            switch Self.spawn(argv) {
            case .failure(let e):
                result = .failure(e)
                spawned.signal()
                sink.done.signal()
            case .success(let (pid, fd)):
                result = .success(pid)
                spawned.signal()
                sink.read(fd)
            }
        }
        reader.stackSize = 1 << 20
        reader.start()
        spawned.wait()
        self.sink = sink
        switch result! {
        case .failure(let e): pid = 0; exited = true; throw e
        case .success(let p): pid = p
        }
        // Running means the first report arrived (threads started, buffer written).
        let deadline = SystemCalls.now() + 30
        while SystemCalls.now() < deadline {
            if sink.latest() != nil { return }
            if hasExited() {
                stop()
                throw ContentionError.stress("the stress generator exited at start; run '\(argv.dropLast(2).joined(separator: " "))' to see why")
            }
            usleep(2000)
        }
        stop()
        throw ContentionError.stress("the stress generator did not report within 30 s")
    }

    /// posix_spawn with stdout on a pipe (close-on-exec everywhere except the child's fd 1).
    private static func spawn(_ argv: [String]) -> Result<(pid_t, Int32), ContentionError> {
        var fds: [Int32] = [0, 0]
        guard SystemCalls.pipeCloseOnExec(&fds) else { return .failure(.stress("pipe failed: errno \(errno)")) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        // The spawning thread may block signals (thread pools do); the child must not inherit
        // that, or SIGTERM would never reach it.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cargs, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            return .failure(.stress("cannot start \(argv[0]): \(String(cString: strerror(rc)))"))
        }
        return .success((pid, fds[0]))
    }

    private func hasExited() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if exited { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return exited
    }

    /// Achieved background load averaged since start, from the child's latest report.
    public func achieved() -> ContentionLevel { sink.latest()?.meanAchieved ?? .idle }

    /// The child's latest report (what it asked and achieved over its last interval).
    public func latestReport() -> StressReport? { sink.latest() }

    /// Seconds since the child's clock started: where it is in its trace now.
    ///
    /// Why: the child starts its clock before its first report, and this object returns only
    /// once that report has arrived, so a caller's own clock started after `start` runs behind
    /// the load it replays. Measured on this VM: bursts began ≈ 0.1 s (the first report's
    /// interval) before the replay's clock said, which gave the planner's sensor a 0.1 s
    /// warning of every burst that no real load gives. Taken from the first report's
    /// `elapsed_s` and the moment it was read (the pipe adds well under a millisecond).
    public func traceSeconds() -> Double { SystemCalls.now() - sink.origin() }

    /// Stops the child (SIGTERM, then SIGKILL after 2 s), waits for it, and returns the
    /// achieved load over the whole run. Safe to call more than once.
    @discardableResult
    public func stop() -> ContentionLevel {
        if !hasExited() {
            kill(pid, SIGTERM)
            let deadline = SystemCalls.now() + 2
            while !hasExited() && SystemCalls.now() < deadline { usleep(2000) }
            if !hasExited() {
                kill(pid, SIGKILL)
                lock.lock()
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                exited = true
                lock.unlock()
            }
        }
        sink.done.wait()
        sink.done.signal()  // later stop() calls return at once
        return (sink.final() ?? sink.latest())?.meanAchieved ?? .idle
    }

    deinit { stop() }
}

/// The child's reports, filled by the reader thread.
private final class ReportSink: @unchecked Sendable {
    private let lock = NSLock()
    private var last: StressReport?
    private var finalReport: StressReport?
    /// `SystemCalls.now()` when the child's clock read 0, from its first report.
    private var start: Double?
    let done = DispatchSemaphore(value: 0)

    func latest() -> StressReport? { lock.lock(); defer { lock.unlock() }; return last }
    func final() -> StressReport? { lock.lock(); defer { lock.unlock() }; return finalReport }
    func origin() -> Double { lock.lock(); defer { lock.unlock() }; return start ?? SystemCalls.now() }

    /// Reads JSON report lines until the child closes its stdout (it exited).
    func read(_ fd: Int32) {
        defer { close(fd); done.signal() }
        let decoder = JSONDecoder()
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending += chunk[0..<n]
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(pending[..<nl])
                pending.removeSubrange(...nl)
                guard let r = try? decoder.decode(StressReport.self, from: line) else { continue }
                let received = SystemCalls.now()
                lock.lock()
                if start == nil { start = received - r.elapsedS }
                last = r
                if r.final { finalReport = r }
                lock.unlock()
            }
        }
    }
}
