import Foundation
import MesaTraining

/// libFuzzer entry point for the config.json decoder (scripts/fuzz.sh): what `mesa train
/// --resume` and `mesa eval` do with a run directory's config.json before anything else,
/// i.e. strict decoding (unknown fields refused), validation, the memory estimate, the
/// comparison with a checkpoint's configuration, and writing it back. Any input must be
/// refused with an error or accepted; none may trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    guard let config = try? ConfigJSON.decodeStrictly(TrainConfig.self, from: data) else { return 0 }
    _ = ConfigJSON.differences(config, config)
    guard (try? config.validate()) != nil else { return 0 }
    _ = MemoryEstimate(config, splitsBatches: true).bytes
    _ = MemoryEstimate(config, splitsBatches: false).bytes
    // A valid configuration is written to config.json and must read back as itself.
    guard let encoded = try? JSONEncoder().encode(config) else {
        fatalError("a valid configuration cannot be written as JSON")
    }
    guard let back = try? ConfigJSON.decodeStrictly(TrainConfig.self, from: encoded) else {
        fatalError("a written configuration does not read back")
    }
    precondition(back == config, "the configuration changed in the round trip")
    _ = config.jsonString()
    return 0
}

// SwiftPM gives an executable its own `main`, so libFuzzer's is not linked: start its driver here.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzConfig))
