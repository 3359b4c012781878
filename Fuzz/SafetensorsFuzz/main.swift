import Foundation
import MesaTensor

/// libFuzzer entry point for the safetensors reader (scripts/fuzz.sh). Any input must either be
/// refused with an error or read; a file that was read must encode and read back the same.
/// A trap here is a bug in `Safetensors.decode`: checkpoints come from disk, so their bytes are
/// untrusted input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    guard let file = try? Safetensors.decode(data) else { return 0 }
    // The reader must also accept the same bytes when they are a slice of a larger buffer.
    let padded = Data([0x55]) + data
    guard let sliced = try? Safetensors.decode(padded[1...]), sliced.tensors.keys.sorted() == file.tensors.keys.sorted()
    else { fatalError("a slice of readable bytes was refused") }
    guard let again = try? Safetensors.decode(Safetensors.encode(file)) else {
        fatalError("a file that was read did not read back after encoding")
    }
    precondition(again.metadata == file.metadata, "metadata changed in the round trip")
    precondition(again.tensors.keys.sorted() == file.tensors.keys.sorted(), "tensor names changed in the round trip")
    for (name, t) in file.tensors {
        let u = again.tensors[name]!
        precondition(u.shape == t.shape && u.dtype == t.dtype, "tensor \(name) changed shape or dtype")
        precondition(t.count == t.shape.reduce(1, *), "tensor \(name) holds \(t.count) elements for shape \(t.shape)")
        let same = t.doubles.elementsEqual(u.doubles) { $0 == $1 || ($0.isNaN && $1.isNaN) }
        precondition(same, "tensor \(name) changed values in the round trip")
    }
    return 0
}

// SwiftPM gives an executable its own `main`, so libFuzzer's is not linked: start its driver here.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzSafetensors))
