import CSupport
import MesaTensor

/// The MLP tiles' GELU loops (MLPKernel.swift): gelu(u) and, for the backward, gelu′(u) of a
/// tile's hidden units. Float32 runs CSupport's 16-lane gelu512.c when `KernelChoice.avx512`
/// says so, else the Swift loop (8 lanes, `-target-cpu haswell`); both compute MesaTensor's
/// `geluValueAndDerivative` element by element with the same operations in the same order, so
/// the bits agree (Tests/MesaNNTests/GeluKernelTests.swift). The profile behind it: the two loops
/// were ~10% of a softmax-7 step's CPU (BENCHMARKS.md, "Speed II — the GELU in 16 lanes").
public enum GeluKernels {
    /// Whether the AVX-512 loops run (MESA_KERNELS=portable: the Swift loops).
    public static var wide: Bool { KernelChoice.avx512 }

    /// value[i] = gelu(x[i]) for i < count.
    @inline(__always)
    public static func values<S: TensorScalar>(_ x: UnsafePointer<S>, into value: UnsafeMutablePointer<S>, count: Int,
                                               wide: Bool = GeluKernels.wide) {
        if S.self == Float.self && wide {
            precondition(KernelChoice.cpuHasAVX512, "AVX-512 GELU asked for on a CPU without AVX-512")
            mesa512_gelu(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                         UnsafeMutableRawPointer(value).assumingMemoryBound(to: Float.self), count)
            return
        }
        for i in 0..<count { value[i] = geluValue(x[i]) }
    }

    /// value[i] = gelu(x[i]), derivative[i] = gelu′(x[i]) for i < count (one tanh each).
    @inline(__always)
    public static func valuesAndDerivatives<S: TensorScalar>(_ x: UnsafePointer<S>, into value: UnsafeMutablePointer<S>,
                                                             derivatives derivative: UnsafeMutablePointer<S>, count: Int,
                                                             wide: Bool = GeluKernels.wide) {
        if S.self == Float.self && wide {
            precondition(KernelChoice.cpuHasAVX512, "AVX-512 GELU asked for on a CPU without AVX-512")
            mesa512_gelu_and_derivative(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                                        UnsafeMutableRawPointer(value).assumingMemoryBound(to: Float.self),
                                        UnsafeMutableRawPointer(derivative).assumingMemoryBound(to: Float.self), count)
            return
        }
        for i in 0..<count { (value[i], derivative[i]) = geluValueAndDerivative(x[i]) }
    }
}
