import Foundation
import TensorKernels

/// What a profile was measured on: the hardware that decides latency, plus the software that
/// ran it. `id` names the machine *kind* (it is the `profiles/<id>/` folder name), so it hashes
/// only the hardware identity — CPU model, cores, SIMD flags, cache sizes, memory in GiB — and
/// never the kernel, BLAS build, compiler, commit or date: the same machine kind gets the same
/// id across runs and upgrades, and those software fields travel with every run's provenance.
public struct DeviceFingerprint: Codable, Sendable, Hashable {
    /// Stable device id: `<cpu-model-slug>-<cores>c-<8 hex of the hardware identity>`.
    public var id: String
    /// `model name` from `/proc/cpuinfo`.
    public var cpuModel: String
    /// Online logical cores.
    public var cores: Int
    /// SIMD extensions that matter to GEMM speed, space-separated (e.g. `avx2 fma avx512f`).
    public var simd: String
    /// Cache sizes of cpu0, e.g. `L1d 32K, L1i 32K, L2 512K, L3 32768K`.
    public var caches: String
    public var memoryBytes: Int
    /// `uname -r`.
    public var kernel: String
    /// BLAS library name and version, e.g. `OpenBLAS 0.3.21`.
    public var blasName: String
    /// OpenBLAS's full build description (includes the core type whose kernels run), then the
    /// bf16 / Q8_0 prefill path, as `Provenance.blas`.
    public var blasConfig: String
    /// BLAS threads in force when the fingerprint was taken.
    public var blasThreads: Int
    /// Swift compiler version the engine was built with (compile-time `#if compiler`, so an
    /// installed binary reports it without a toolchain on the machine).
    public var swiftVersion: String
    /// `debug` or `release`.
    public var build: String
    /// The commit the engine binary was built from, `-dirty` if its tree had uncommitted
    /// changes then (`Provenance.engineCommit`, recorded by the `EngineCommit` build plugin).
    public var engineCommit: String

    enum CodingKeys: String, CodingKey {
        case id, cpuModel = "cpu_model", cores, simd, caches, memoryBytes = "memory_bytes", kernel
        case blasName = "blas_name", blasConfig = "blas_config", blasThreads = "blas_threads"
        case swiftVersion = "swift_version", build, engineCommit = "engine_commit"
    }

    public init(cpuModel: String, cores: Int, simd: String, caches: String, memoryBytes: Int, kernel: String,
                blasName: String, blasConfig: String, blasThreads: Int, swiftVersion: String, build: String,
                engineCommit: String) {
        self.cpuModel = cpuModel; self.cores = cores; self.simd = simd; self.caches = caches
        self.memoryBytes = memoryBytes; self.kernel = kernel; self.blasName = blasName; self.blasConfig = blasConfig
        self.blasThreads = blasThreads; self.swiftVersion = swiftVersion; self.build = build
        self.engineCommit = engineCommit
        id = Self.makeID(cpuModel: cpuModel, cores: cores, simd: simd, caches: caches, memoryBytes: memoryBytes)
    }

    /// This machine, now.
    public static func current() -> DeviceFingerprint {
        let p = Provenance.current(threads: BLAS.threads)
        return DeviceFingerprint(cpuModel: p.cpuModel, cores: p.cores, simd: p.simd, caches: cacheSizes(),
                                 memoryBytes: p.memoryBytes, kernel: p.kernel, blasName: blasName(p.blas),
                                 blasConfig: p.blas, blasThreads: BLAS.threads, swiftVersion: compilerVersion,
                                 build: p.build, engineCommit: p.engineCommit)
    }

    /// The hardware identity hashed into `id`: memory is rounded to GiB so a few MB of
    /// firmware reservation difference between boots does not change it.
    static func makeID(cpuModel: String, cores: Int, simd: String, caches: String, memoryBytes: Int) -> String {
        let gib = (memoryBytes + (1 << 29)) >> 30
        let identity = [cpuModel, "\(cores)", simd, caches, "\(gib)"].joined(separator: "|")
        let hash = String(fnv1a64(identity) >> 32, radix: 16)
        let padded = String(repeating: "0", count: 8 - hash.count) + hash
        return "\(slug(cpuModel))-\(cores)c-\(padded)"
    }

    /// Lower-case alphanumerics joined by single dashes, vendor noise dropped, at most 40 chars.
    static func slug(_ text: String) -> String {
        let noise: Set<String> = ["r", "tm", "processor", "cpu", "with", "radeon", "graphics"]
        var words: [String] = []
        var word = ""
        for ch in text.lowercased() {
            if ch.isASCII && (ch.isLetter || ch.isNumber) { word.append(ch) } else {
                if !word.isEmpty { words.append(word); word = "" }
            }
        }
        if !word.isEmpty { words.append(word) }
        let kept = words.filter { !noise.contains($0) }
        var slug = kept.isEmpty ? "unknown-cpu" : kept.joined(separator: "-")
        if slug.count > 40 { slug = String(slug.prefix(40)).trimmingCharacters(in: CharacterSet(charactersIn: "-")) }
        return slug
    }

    /// FNV-1a: a hash that is the same in every process (Swift's `Hasher` is seeded per run).
    static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// `L1d 32K, L1i 32K, L2 512K, L3 32768K` from sysfs (empty where sysfs has no caches).
    static func cacheSizes(root: String = "/sys/devices/system/cpu/cpu0/cache") -> String {
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("index") }.sorted()
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return entries.compactMap { entry -> String? in
            let dir = "\(root)/\(entry)"
            guard let level = read("\(dir)/level"), let size = read("\(dir)/size") else { return nil }
            let type = read("\(dir)/type") ?? ""
            let suffix = type == "Data" ? "d" : type == "Instruction" ? "i" : ""
            return "L\(level)\(suffix) \(size)"
        }.joined(separator: ", ")
    }

    /// `OpenBLAS 0.3.21` out of `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY …`.
    static func blasName(_ config: String) -> String {
        config.split(separator: " ").prefix(2).joined(separator: " ")
    }

    static var compilerVersion: String {
        #if compiler(>=6.4)
        return "6.4+"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #elseif compiler(>=6.0)
        return "6.0"
        #else
        return "<6.0"
        #endif
    }

    /// `field: value` lines for the human report.
    public var rows: [(String, String)] {
        [("id", id), ("cpu", cpuModel), ("cores", "\(cores)"), ("simd", simd), ("caches", caches),
         ("memory", String(format: "%.1f GiB", Double(memoryBytes) / 1_073_741_824)), ("kernel", kernel),
         ("blas", blasName), ("blas config", blasConfig), ("blas threads", "\(blasThreads)"),
         ("swift", swiftVersion), ("build", build), ("engine commit", engineCommit)]
    }
}
