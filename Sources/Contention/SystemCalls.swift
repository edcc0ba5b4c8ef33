#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Linux calls Swift cannot import directly (`prctl` is variadic) or whose macros it cannot
/// see (`CPU_SET`), reached through their C ABI. No-ops where they do not exist.
enum SystemCalls {
    #if os(Linux)
    private typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

    private static func symbol<T>(_ name: String, as: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: T.self)
    }
    #endif

    /// Asks the kernel to SIGKILL this process when its parent thread exits
    /// (`prctl(PR_SET_PDEATHSIG, SIGKILL)`); false where unsupported.
    @discardableResult
    static func dieWithParent() -> Bool {
        #if os(Linux)
        guard let prctl = symbol("prctl", as: Prctl.self) else { return false }
        return prctl(1 /* PR_SET_PDEATHSIG */, UInt(SIGKILL), 0, 0, 0) == 0
        #else
        return false
        #endif
    }

    /// Pins the calling thread to one CPU (`sched_setaffinity(0, …)` acts on the calling
    /// thread on Linux); false if refused (e.g. the CPU is outside this process's cpuset).
    @discardableResult
    static func pinCurrentThread(to cpu: Int) -> Bool {
        #if os(Linux)
        guard cpu >= 0, cpu < 1024, let set = symbol("sched_setaffinity", as: SetAffinity.self) else { return false }
        var mask = [UInt64](repeating: 0, count: 16)  // 1024 bits, the size of glibc's cpu_set_t
        mask[cpu / 64] |= 1 << UInt64(cpu % 64)
        return mask.withUnsafeBytes { set(0, $0.count, $0.baseAddress!) } == 0
        #else
        return false
        #endif
    }

    /// CPUs this process may run on (sched_getaffinity), in order; 0..<n if unknown.
    static func allowedCPUs() -> [Int] {
        #if os(Linux)
        typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        var mask = [UInt64](repeating: 0, count: 16)
        if let get = symbol("sched_getaffinity", as: GetAffinity.self),
           mask.withUnsafeMutableBytes({ get(0, $0.count, $0.baseAddress!) }) == 0 {
            let cpus = (0..<1024).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
            if !cpus.isEmpty { return cpus }
        }
        #endif
        return Array(0..<ProcessInfo.processInfo.activeProcessorCount)
    }

    /// A pipe whose both ends close on exec (pipe2(O_CLOEXEC), atomically, so a child spawned
    /// by another thread at the same moment cannot inherit it).
    static func pipeCloseOnExec(_ fds: inout [Int32]) -> Bool {
        #if os(Linux)
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        if let pipe2 = symbol("pipe2", as: Pipe2.self) {
            return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0
        }
        #endif
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    /// Monotonic wall clock, seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// CPU time of the calling thread, seconds.
    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// CPU time (user + system) of this whole process, seconds.
    static func processCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        nanosleep(&ts, nil)
    }
}
