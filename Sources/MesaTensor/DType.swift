import CBLAS
import CSupport
import RealModule

/// The element type of a `Tensor`: Float32 for training, Float64 for analysis and for the
/// finite-difference checks of every backward pass.
public enum DType: String, Codable, Sendable, CaseIterable {
    case float32
    case float64

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
    /// The name safetensors uses for this type.
    public var safetensorsName: String { self == .float32 ? "F32" : "F64" }
}

/// The scalar types a `Tensor` can hold. Kernels are written once, generic over this
/// protocol, and specialized for `Float` and `Double` inside the module that defines them;
/// a tensor's `DType` picks the specialization at run time (one branch per kernel call).
public protocol TensorScalar: BinaryFloatingPoint, Real, SIMDScalar, Codable, Sendable
where Self.RawSignificand: FixedWidthInteger {
    static var dtype: DType { get }
    /// C = alpha * op(A) op(B) + beta * C, row-major (BLAS `?gemm`).
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

@inline(__always)
private func trans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if SmallGemm.enabled && SmallGemm.takes(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta) {
            if transA {  // weight gradient Aᵀ·B in OpenBLAS's K blocks, same bits (SmallGemm)
                if mesa512_sgemm_tn(m, n, k, a, lda, b, ldb, beta == 1 ? 1 : 0, SmallGemm.kBlock(m: m, n: n, k: k),
                                    SmallGemm.kBlockUnroll, c, ldc) != 0 { return }
            } else if mesa512_sgemm_small(transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta == 1 ? 1 : 0, c, ldc) != 0 {
                return  // thin product, same bits as OpenBLAS (SmallGemm)
            }
        }
        _ = Parallel.configureBLAS  // BLAS single-threaded before its first call (a one-time check, no lock)
        cblas_sgemm(CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        _ = Parallel.configureBLAS  // BLAS single-threaded before its first call (a one-time check, no lock)
        cblas_dgemm(CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
