/// A dense, row-major fp32 tensor: the only tensor type the engine computes with.
///
/// Activations, norms and biases are always fp32; linear-layer weights may instead be held
/// narrower (`WeightMatrix`: bf16 or Q8_0) and are widened to fp32 inside the kernels. Element
/// `[i0, i1, …, in]` lives at `Σ ik · stride(k)` with the last dimension contiguous.
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first, e.g. `[tokens, hidden]`.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var storage: [Float]

    /// Wraps existing values; `storage.count` must equal the product of `shape`.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.reduce(1, *) == storage.count,
                     "Tensor shape \(shape) does not match \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Number of elements.
    public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Size of the last dimension (the contiguous one); 1 for a scalar.
    public var lastDim: Int { shape.last ?? 1 }
    /// Product of all but the last dimension: the number of contiguous rows.
    public var rows: Int { lastDim == 0 ? 0 : count / lastDim }

    /// The same values viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Copy of row `i` of a 2-D view `[rows, lastDim]`.
    public func row(_ i: Int) -> [Float] {
        Array(storage[(i * lastDim)..<((i + 1) * lastDim)])
    }
}
