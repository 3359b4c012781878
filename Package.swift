// swift-tools-version: 6.0
import PackageDescription

// Hot kernels need the vector units: AVX2 + FMA on x86-64 (Haswell and later: every x86 machine of the last
// decade), the default on arm64. `-Ounchecked` drops bounds checks in release builds only.
#if arch(x86_64)
let cpuFlags: [String] = ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
let fast: [SwiftSetting] = [
    .unsafeFlags(cpuFlags),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "mesa",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mesa", targets: ["mesa"]),
        .library(name: "MesaTensor", targets: ["MesaTensor"]),
        .library(name: "MesaNN", targets: ["MesaNN"]),
        .library(name: "MesaTasks", targets: ["MesaTasks"]),
        .library(name: "MesaAnalysis", targets: ["MesaAnalysis"]),
        .library(name: "MesaTraining", targets: ["MesaTraining"]),
        .library(name: "MesaExperiments", targets: ["MesaExperiments"]),
        .library(name: "MesaLanguage", targets: ["MesaLanguage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CSupport"),
        .target(name: "MesaTensor",
                dependencies: ["CBLAS", "CSupport", .product(name: "Numerics", package: "swift-numerics")],
                swiftSettings: fast),
        .target(name: "MesaNN", dependencies: ["MesaTensor", "CSupport"], swiftSettings: fast),
        .target(name: "MesaTasks", dependencies: ["MesaTensor", "CSupport"], swiftSettings: fast),
        // Analyses read checkpoints: MesaAnalysis loads runs through MesaTraining's run directories and
        // configurations; MesaTraining never imports MesaAnalysis.
        .target(name: "MesaAnalysis",
                dependencies: ["MesaTensor", "MesaNN", "MesaTasks", "MesaTraining"], swiftSettings: fast),
        .target(name: "MesaTraining",
                dependencies: ["MesaTensor", "MesaNN", "MesaTasks"], swiftSettings: fast),
        .target(name: "MesaTheory",
                dependencies: ["MesaTensor", .product(name: "Numerics", package: "swift-numerics")],
                swiftSettings: fast),
        // Byte-level language modelling (SPEC §7): corpus, tokens, embedding, cross-entropy, cached sampling.
        .target(name: "MesaLanguage",
                dependencies: ["MesaTensor", "MesaNN", "MesaTasks", "MesaTraining", "MesaAnalysis"], swiftSettings: fast),
        .target(name: "MesaExperiments",
                dependencies: ["MesaTensor", "MesaNN", "MesaTasks", "MesaAnalysis", "MesaTraining", "MesaTheory", "MesaLanguage"],
                swiftSettings: fast),
        .executableTarget(name: "mesa",
                          dependencies: ["MesaExperiments", "MesaAnalysis", "MesaTraining", "MesaTensor", "MesaLanguage", "MesaNN",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fast),
        // What several test targets share: running the built `mesa` tool (MesaTool).
        .target(name: "MesaTestSupport", dependencies: ["MesaExperiments"], path: "Tests/MesaTestSupport"),
        .testTarget(name: "MesaTensorTests", dependencies: ["MesaTensor"], swiftSettings: fast),
        .testTarget(name: "MesaNNTests", dependencies: ["MesaNN", "MesaTasks", "MesaTensor"], swiftSettings: fast),
        .testTarget(name: "MesaTasksTests", dependencies: ["MesaTasks", "MesaTensor"], swiftSettings: fast),
        .testTarget(name: "MesaAnalysisTests", dependencies: ["MesaAnalysis", "MesaNN", "MesaTasks", "MesaTensor"],
                    swiftSettings: fast),
        .testTarget(name: "MesaTrainingTests",
                    dependencies: ["MesaTraining", "MesaExperiments", "MesaNN", "MesaTasks", "MesaTensor", "MesaTestSupport"],
                    swiftSettings: fast),
        .testTarget(name: "MesaTheoryTests", dependencies: ["MesaTheory"], swiftSettings: fast),
        .testTarget(name: "MesaLanguageTests",
                    dependencies: ["MesaLanguage", "MesaAnalysis", "MesaTraining", "MesaNN", "MesaTasks", "MesaTensor",
                                   "MesaTestSupport"],
                    resources: [.copy("Resources")], swiftSettings: fast),
        .testTarget(name: "MesaExperimentsTests",
                    dependencies: ["MesaExperiments", "MesaAnalysis", "MesaTraining", "MesaTheory", "MesaTensor", "MesaTestSupport"],
                    swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer targets for the parsers of untrusted files (checkpoints, config.json), built only by
// scripts/fuzz.sh (MESA_FUZZ=1, -sanitize=fuzzer, its own scratch path): `swift build` and
// `swift test` never see them.
if Context.environment["MESA_FUZZ"] != nil {
    package.targets += [
        .executableTarget(name: "SafetensorsFuzz", dependencies: ["MesaTensor"], path: "Fuzz/SafetensorsFuzz"),
        .executableTarget(name: "ConfigFuzz", dependencies: ["MesaTraining"], path: "Fuzz/ConfigFuzz"),
    ]
    package.products += [
        .executable(name: "SafetensorsFuzz", targets: ["SafetensorsFuzz"]),
        .executable(name: "ConfigFuzz", targets: ["ConfigFuzz"]),
    ]
}
