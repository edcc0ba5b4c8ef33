import Foundation
import TensorKernels

/// Where a measurement came from: every stored row and printed result carries one, so a figure
/// can always be traced to the device, engine build, BLAS and threads that produced it.
public struct Provenance: Codable, Sendable, Equatable {
    /// `model name` from `/proc/cpuinfo`.
    public var cpuModel: String
    /// Online logical cores.
    public var cores: Int
    /// SIMD extensions the CPU reports that matter to GEMM speed (e.g. `avx2 fma`).
    public var simd: String
    public var memoryBytes: Int
    /// `uname -r`.
    public var kernel: String
    /// OpenBLAS build description (includes the core type whose kernels ran), then how prefill
    /// multiplied by bf16 / Q8_0 weights: e.g. `OpenBLAS 0.3.21 … Cooperlake MAX_THREADS=64;
    /// bf16/q8_0 prefill: amx` (`PrefillKernel`: AMX tiles, or fp32 panels widened for sgemm).
    public var blas: String
    /// BLAS threads the measurement used.
    public var threads: Int
    /// `git rev-parse --short=12 HEAD` of the source tree the binary was built from, `-dirty`
    /// if it had uncommitted changes then (`EngineCommit` plugin).
    public var engineCommit: String
    /// `debug` or `release`.
    public var build: String
    /// ISO 8601 time of the measurement.
    public var date: String
    /// The exact command line.
    public var command: String

    public init(cpuModel: String, cores: Int, simd: String, memoryBytes: Int, kernel: String, blas: String, threads: Int,
                engineCommit: String, build: String, date: String, command: String) {
        self.cpuModel = cpuModel; self.cores = cores; self.simd = simd; self.memoryBytes = memoryBytes
        self.kernel = kernel; self.blas = blas; self.threads = threads; self.engineCommit = engineCommit
        self.build = build; self.date = date; self.command = command
    }

    enum CodingKeys: String, CodingKey {
        case cpuModel = "cpu_model", cores, simd, memoryBytes = "memory_bytes", kernel, blas, threads
        case engineCommit = "engine_commit", build, date, command
    }

    /// This process's provenance, for a measurement with `threads` BLAS threads.
    public static func current(threads: Int) -> Provenance {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String {
            cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        let flags = Set(field("flags").split(separator: " ").map(String.init))
        let simd = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"].filter(flags.contains)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return Provenance(
            cpuModel: field("model name"),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            simd: simd.joined(separator: " "),
            memoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
            kernel: (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown",
            blas: "\(BLAS.configuration); bf16/q8_0 prefill: \(PrefillKernel.current.rawValue)",
            threads: threads,
            engineCommit: engineCommit(),
            build: build,
            date: ISO8601DateFormatter().string(from: Date()),
            command: CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))
    }

    /// The commit (`-dirty` with uncommitted changes) this binary was built from, recorded at
    /// build time by the `EngineCommit` plugin; `unknown` when built without git.
    static func engineCommit() -> String { builtEngineCommit }

    /// `# key: value` lines for the head of a CSV file.
    public var csvComment: String {
        """
        # cpu: \(cpuModel) (\(cores) cores, \(simd)), memory \(memoryBytes / 1_073_741_824) GiB, kernel \(kernel)
        # blas: \(blas)
        # engine: \(engineCommit) (\(build)), \(date)
        # command: \(command)
        """
    }
}
