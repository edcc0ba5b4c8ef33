import Foundation

/// Pillow's convolution resampler (`Image.resize` with BOX, BILINEAR, HAMMING, BICUBIC or
/// LANCZOS on an 8-bit image), reproduced bit for bit so preprocessing matches the reference.
///
/// How Pillow does it (`src/libImaging/Resample.c`), and so how this does it:
/// * Separable: a horizontal pass into a temporary image (only the source rows the vertical
///   pass will read), then a vertical pass — except that Pillow 13 (python-pillow PR #9549)
///   runs the vertical pass first when the height shrinks and the width does not. Earlier
///   Pillows always go horizontal first, so for that one case results differ between Pillow
///   versions by a rounding step; CLIP's aspect-preserving `shortest_edge` resize never hits
///   it. A pass whose size does not change is skipped; if neither changes the image is copied.
/// * Per output index `o` along an axis of `inSize → outSize`: `scale = inSize / outSize`,
///   `filterscale = max(scale, 1)` (downscaling widens the kernel: antialiasing),
///   `support = filter.support * filterscale`, `center = (o + 0.5) * scale`, source window
///   `[Int(center - support + 0.5), Int(center + support + 0.5))` truncated toward zero and
///   clamped to the image, weights `filter((i - center + 0.5) / filterscale)` (computed as a
///   product with the reciprocal, in double), normalised to sum 1.
/// * Weights become fixed point with 22 fractional bits (`PRECISION_BITS = 32 - 8 - 2`),
///   rounded half away from zero; each output starts at `1 << 21` (so the final shift rounds),
///   accumulates `sample * weight` in integers, and is clipped to 0...255 after `>> 22`.
/// * Bicubic is the Keys kernel with `a = -0.5`, support 2.
enum PILResample {
    /// Pillow's `Image.Resampling` values that use the convolution resampler.
    enum Filter: Int, Sendable, CaseIterable {
        case lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5

        var support: Double {
            switch self {
            case .box: return 0.5
            case .bilinear, .hamming: return 1
            case .bicubic: return 2
            case .lanczos: return 3
            }
        }

        /// The kernel, with the same operation order as Pillow's C so doubles round alike.
        func weight(_ x: Double) -> Double {
            switch self {
            case .box:
                return x > -0.5 && x <= 0.5 ? 1 : 0
            case .bilinear:
                let x = abs(x)
                return x < 1 ? 1 - x : 0
            case .hamming:
                var x = abs(x)
                if x == 0 { return 1 }
                if x >= 1 { return 0 }
                x *= Double.pi
                return sin(x) / x * (Double(Float(0.54)) + Double(Float(0.46)) * cos(x))
            case .bicubic:
                let a = -0.5
                let x = abs(x)
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            case .lanczos:
                func sinc(_ x: Double) -> Double {
                    if x == 0 { return 1 }
                    let y = x * Double.pi
                    return sin(y) / y
                }
                return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0
            }
        }
    }

    /// Fixed-point weights for one axis: output `o` reads `count[o]` inputs starting at
    /// `first[o]` with weights `weights[o * taps ..< o * taps + count[o]]`.
    struct Coefficients {
        var taps: Int
        var first: [Int]
        var count: [Int]
        var weights: [Int32]
    }

    static let precisionBits = 32 - 8 - 2

    static func coefficients(inSize: Int, outSize: Int, filter: Filter) -> Coefficients {
        // Pillow passes the box as floats: (in1 - in0) is a float subtraction of 0 and inSize.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = filter.support * filterscale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let inverseFilterscale = 1.0 / filterscale
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        let one = Double(1 << precisionBits)
        for o in 0..<outSize {
            let center = Double(Float(0)) + (Double(o) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var sum = 0.0
            for i in 0..<xmax {
                let w = filter.weight((Double(i + xmin) - center + 0.5) * inverseFilterscale)
                k[i] = w
                sum += w
            }
            for i in 0..<xmax {
                let w = sum != 0 ? k[i] / sum : k[i]
                weights[o * taps + i] = w < 0 ? Int32(-0.5 + w * one) : Int32(0.5 + w * one)
            }
            first[o] = xmin
            count[o] = max(xmax, 0)
        }
        return Coefficients(taps: taps, first: first, count: count, weights: weights)
    }

    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        UInt8(clamping: v >> precisionBits)
    }

    /// Resizes `image` (alpha ignored) to `width` x `height` exactly as Pillow's
    /// `Image.resize((width, height), filter)` does for an RGB image.
    static func resize(_ image: RGBImage, width: Int, height: Int, filter: Filter) -> RGBImage {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)x\(height)")
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        if !needHorizontal && !needVertical { return image.droppingAlpha() }

        let vertical = coefficients(inSize: image.height, outSize: height, filter: filter)
        let horizontal = coefficients(inSize: image.width, outSize: width, filter: filter)

        // Pillow 13 runs the vertical pass first when the height shrinks but the width does not.
        if !(width >= image.width && height < image.height) {
            // Horizontal first, over only the source rows the vertical pass reads.
            let firstRow = vertical.first[0]
            let lastRow = vertical.first[height - 1] + vertical.count[height - 1]
            var source = image.pixels, rowOffset = 0
            if needHorizontal {
                source = horizontalPass(source, inWidth: image.width, rows: firstRow..<lastRow,
                                        coefficients: horizontal, outWidth: width)
                rowOffset = firstRow
            }
            if needVertical {
                source = verticalPass(source, width: width, rowOffset: rowOffset, coefficients: vertical, outHeight: height)
            }
            return RGBImage(width: width, height: height, pixels: source)
        }
        var source = verticalPass(image.pixels, width: image.width, rowOffset: 0, coefficients: vertical, outHeight: height)
        if needHorizontal {
            source = horizontalPass(source, inWidth: image.width, rows: 0..<height, coefficients: horizontal, outWidth: width)
        }
        return RGBImage(width: width, height: height, pixels: source)
    }

    /// `[rows, inWidth, 3] → [rows.count, outWidth, 3]`.
    private static func horizontalPass(_ input: [UInt8], inWidth: Int, rows: Range<Int>,
                                       coefficients c: Coefficients, outWidth: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let half = 1 << (precisionBits - 1)
        input.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { dst in
                    for (r, y) in rows.enumerated() {
                        let line = y * inWidth * 3
                        for o in 0..<outWidth {
                            var s0 = half, s1 = half, s2 = half
                            let base = o * c.taps, start = line + c.first[o] * 3
                            for i in 0..<c.count[o] {
                                let w = Int(k[base + i])
                                let p = start + i * 3
                                s0 += Int(src[p]) * w
                                s1 += Int(src[p + 1]) * w
                                s2 += Int(src[p + 2]) * w
                            }
                            let q = (r * outWidth + o) * 3
                            dst[q] = clip8(s0); dst[q + 1] = clip8(s1); dst[q + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return out
    }

    /// `[rows, width, 3] → [outHeight, width, 3]`; source row indices are shifted by `rowOffset`.
    private static func verticalPass(_ input: [UInt8], width: Int, rowOffset: Int,
                                     coefficients c: Coefficients, outHeight: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outHeight * width * 3)
        let half = 1 << (precisionBits - 1)
        let stride = width * 3
        var acc = [Int](repeating: 0, count: stride)
        input.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { k in
                out.withUnsafeMutableBufferPointer { dst in
                    acc.withUnsafeMutableBufferPointer { acc in
                        for o in 0..<outHeight {
                            for j in 0..<stride { acc[j] = half }
                            let base = o * c.taps, first = c.first[o] - rowOffset
                            for i in 0..<c.count[o] {
                                let w = Int(k[base + i])
                                let line = (first + i) * stride
                                for j in 0..<stride { acc[j] += Int(src[line + j]) * w }
                            }
                            let q = o * stride
                            for j in 0..<stride { dst[q + j] = clip8(acc[j]) }
                        }
                    }
                }
            }
        }
        return out
    }
}
