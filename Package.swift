// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "adallava",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "adallava", targets: ["adallava"]),
        .library(name: "TensorKernels", targets: ["TensorKernels"]),
        .library(name: "AdaptiveInference", targets: ["AdaptiveInference"]),
        .library(name: "LLaVAModel", targets: ["LLaVAModel"]),
        .library(name: "Profiling", targets: ["Profiling"]),
        .library(name: "ProfileStore", targets: ["ProfileStore"]),
        .library(name: "CostModel", targets: ["CostModel"]),
        .library(name: "Simulation", targets: ["Simulation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // GSL and OpenBLAS both declare the CBLAS enums, so they live in ONE module whose
        // shim includes gsl_cblas.h and links openblas (not gslcblas): see DESIGN.md.
        .systemLibrary(
            name: "CGSL",
            providers: [.apt(["libgsl-dev", "libopenblas-dev"])]
        ),
        // BF16/Q8_0 weight kernels in C: AVX2+FMA bodies chosen at run time, scalar otherwise.
        // -O3 even in debug builds, because tests and benchmarks time them.
        .target(
            name: "CWeightKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        .target(
            name: "TensorKernels",
            dependencies: ["CGSL", "CWeightKernels"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        // libpng + libjpeg(-turbo) for reading PNG/JPEG images (Debian: libpng-dev, libjpeg62-turbo-dev).
        .systemLibrary(
            name: "CImageCodecs",
            providers: [.apt(["libpng-dev", "libjpeg62-turbo-dev"])]
        ),
        .target(
            name: "AdaptiveInference",
            dependencies: ["TensorKernels"]
        ),
        .target(
            name: "LLaVAModel",
            dependencies: ["TensorKernels", "AdaptiveInference", "CImageCodecs"]
        ),
        // Trace formats, the background-load generator and the contention sensor.
        .target(name: "Contention", dependencies: ["TensorKernels"]),
        // Build-tool plugin: the git commit (and -dirty) the binary is built from, for provenance.
        .plugin(name: "EngineCommit", capability: .buildTool()),
        .target(
            name: "Profiling",
            dependencies: ["LLaVAModel", "TensorKernels", "AdaptiveInference", "Contention"],
            plugins: ["EngineCommit"]
        ),
        .target(
            name: "ProfileStore",
            dependencies: ["Profiling", "LLaVAModel", "Contention", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "CostModel",
            dependencies: ["CGSL", "Profiling", "LLaVAModel", "AdaptiveInference", "Contention"]
        ),
        .target(
            name: "Simulation",
            dependencies: ["CostModel", "Contention", "Profiling", "LLaVAModel", "AdaptiveInference", "TensorKernels",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(name: "Validation", dependencies: ["Simulation", "Contention", "CGSL"]),
        .executableTarget(
            name: "adallava",
            dependencies: [
                "LLaVAModel", "TensorKernels", "Profiling", "AdaptiveInference",
                "Contention", "ProfileStore", "CostModel", "Simulation", "Validation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TensorKernelsTests", dependencies: ["TensorKernels"]),
        .testTarget(name: "AdaptiveInferenceTests", dependencies: ["AdaptiveInference", "TensorKernels"]),
        .testTarget(name: "LLaVAModelTests", dependencies: ["LLaVAModel", "TensorKernels"]),
        .testTarget(name: "ProfilingTests", dependencies: ["Profiling"]),
        .testTarget(name: "ContentionTests", dependencies: ["Contention"]),
        .testTarget(name: "ProfileStoreTests", dependencies: ["ProfileStore", "Profiling"]),
        .testTarget(name: "CostModelTests", dependencies: ["CostModel", "Profiling", "LLaVAModel"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "CostModel", "Contention", "LLaVAModel", "AdaptiveInference", "TensorKernels"]),
        .testTarget(name: "ValidationTests", dependencies: ["Validation", "Simulation"]),
        .testTarget(name: "CLITests", dependencies: ["LLaVAModel", "Profiling", "ProfileStore", "CostModel", "TensorKernels"]),
    ]
)
