import Foundation

/// Numerically stable softmax of `count` values in place (max subtracted before `exp`).
@inline(__always)
public func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var m = row[0]
    for i in 1..<count where row[i] > m { m = row[i] }
    var sum: Float = 0
    for i in 0..<count { let e = expf(row[i] - m); row[i] = e; sum += e }
    let inv = 1 / sum
    for i in 0..<count { row[i] *= inv }
}

/// Softmax over the last dimension of `x` (`[rows, n]`).
public func softmax(_ x: Tensor) -> Tensor {
    var y = x
    let n = x.lastDim
    y.storage.withUnsafeMutableBufferPointer { p in
        for r in 0..<x.rows { softmaxInPlace(p.baseAddress! + r * n, count: n) }
    }
    return y
}
