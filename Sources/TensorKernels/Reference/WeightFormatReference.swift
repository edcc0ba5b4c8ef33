extension Reference {
    /// `x` rounded to bf16 (nearest, ties to even) and widened back, by plain integer steps.
    public static func bf16(_ x: Float) -> Float {
        if x.isNaN { return x }
        let bits = x.bitPattern
        let lower = bits & 0xFFFF, upper = bits >> 16
        let roundUp = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
        return Float(bitPattern: (upper &+ (roundUp ? 1 : 0)) << 16)
    }

    /// The fp32 values a `[rows, cols]` weight holds after storing it as `dtype`: bf16
    /// rounding, or per-32-block symmetric int8 with scale `max|w| / 127`.
    public static func stored(_ w: Tensor, as dtype: WeightDType) -> Tensor {
        switch dtype {
        case .f32:
            return w
        case .bf16:
            return Tensor(shape: w.shape, storage: w.storage.map(bf16))
        case .q8_0:
            let cols = w.lastDim
            var out = w.storage
            for r in 0..<w.rows {
                for start in stride(from: 0, to: cols, by: 32) {
                    let block = (r * cols + start)..<(r * cols + min(cols, start + 32))
                    let amax = block.map { abs(w.storage[$0]) }.max() ?? 0
                    let scale = amax / 127
                    for i in block { out[i] = scale == 0 ? 0 : scale * (w.storage[i] / scale).rounded() }
                }
            }
            return Tensor(shape: w.shape, storage: out)
        }
    }
}
