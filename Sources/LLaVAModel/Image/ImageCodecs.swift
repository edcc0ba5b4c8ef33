import CImageCodecs
import Foundation

/// Turns what libpng/libjpeg decode into the RGB (+ alpha) Pillow would give for the same file.
///
/// The C side returns raw samples; the conversions here follow Pillow 13 step by step:
/// its PNG modes and unpackers (`PngImagePlugin._MODES`, `Unpack.c`), its mode conversions to
/// RGB/RGBA (`Convert.c`, including `convert_transparent` for `tRNS` colour keys) and its JPEG
/// modes (1 component → L, 3 → RGB, 4 → CMYK read as Adobe-inverted `CMYK;I`).
enum ImageCodecs {
    /// Pillow refuses images above `2 * Image.MAX_IMAGE_PIXELS` (DecompressionBombError).
    static let maxPixels = 2 * (1024 * 1024 * 1024 / 4 / 3)

    static func decodePNG(_ bytes: [UInt8], path: String) throws -> RGBImage {
        let raw = try decodeRaw(bytes, path: path, format: "PNG", adallava_decode_png)
        return try pngToRGB(raw, path: path)
    }

    static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> RGBImage {
        let raw = try decodeRaw(bytes, path: path, format: "JPEG", adallava_decode_jpeg)
        return try jpegToRGB(raw, path: path)
    }

    /// Decoded samples plus the PNG metadata the conversions need.
    struct RawImage {
        var width: Int, height: Int, channels: Int, bitDepth: Int, colorType: Int32
        var rowBytes: Int
        var data: [UInt8]
        var palette: [UInt8]  // RGB triples
        var paletteAlpha: [UInt8]  // tRNS for palette images
        var transparentColor: (gray: UInt32, red: UInt32, green: UInt32, blue: UInt32)?
    }

    typealias CDecoder = (UnsafePointer<UInt8>?, Int, Int, UnsafeMutablePointer<adallava_decoded>?) -> Int32

    private static func decodeRaw(_ bytes: [UInt8], path: String, format: String,
                                  _ decoder: CDecoder) throws -> RawImage {
        var decoded = adallava_decoded()
        let ok = bytes.withUnsafeBufferPointer { buffer in
            decoder(buffer.baseAddress, buffer.count, maxPixels, &decoded)
        }
        defer { adallava_decoded_free(&decoded) }
        guard ok == 1, let data = decoded.data else {
            let message = withUnsafeBytes(of: decoded.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw LLaVAModelError.fileUnreadable(
                path: path, reason: "corrupt or truncated \(format) data: \(message.isEmpty ? "decoder failed" : message)")
        }
        let rowBytes = decoded.rowbytes, height = Int(decoded.height)
        var raw = RawImage(
            width: Int(decoded.width), height: height, channels: Int(decoded.channels),
            bitDepth: Int(decoded.bit_depth), colorType: decoded.color_type, rowBytes: rowBytes,
            data: Array(UnsafeBufferPointer(start: data, count: rowBytes * height)),
            palette: [], paletteAlpha: [], transparentColor: nil)
        withUnsafeBytes(of: decoded.palette) { raw.palette = Array($0.prefix(Int(decoded.palette_count) * 3)) }
        withUnsafeBytes(of: decoded.trans_alpha) { raw.paletteAlpha = Array($0.prefix(Int(decoded.trans_alpha_count))) }
        if decoded.has_trans_color != 0 {
            raw.transparentColor = (decoded.trans_gray, decoded.trans_red, decoded.trans_green, decoded.trans_blue)
        }
        return raw
    }

    // MARK: PNG

    static func pngToRGB(_ raw: RawImage, path: String) throws -> RGBImage {
        let w = raw.width, h = raw.height, depth = raw.bitDepth
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        var alpha: [UInt8]? = nil
        let data = raw.data

        /// 8-bit value of sample `s` of pixel `x` in row `y`: 16-bit samples keep their high
        /// byte (Pillow's `RGB;16B`, `RGBA;16B` and `LA;16B` unpackers).
        func sample8(_ y: Int, _ x: Int, _ s: Int) -> UInt8 {
            depth == 16 ? data[y * raw.rowBytes + (x * raw.channels + s) * 2]
                        : data[y * raw.rowBytes + x * raw.channels + s]
        }

        switch raw.colorType {
        case Int32(ADALLAVA_COLOR_GRAY):
            // Pillow modes: 1-bit "1" (0/255), 2-bit "L;2" (×85), 4-bit "L;4" (×17), 8-bit "L",
            // 16-bit "I;16", whose conversion to RGB clips at 255 rather than scaling.
            var gray = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                let row = y * raw.rowBytes
                for x in 0..<w {
                    let v: UInt8
                    switch depth {
                    case 1: v = data[row + x] != 0 ? 255 : 0
                    case 2: v = data[row + x] &* 0x55
                    case 4: v = data[row + x] &* 0x11
                    case 8: v = data[row + x]
                    default: v = data[row + 2 * x] == 0 ? data[row + 2 * x + 1] : 255
                    }
                    gray[y * w + x] = v
                }
            }
            for i in 0..<(w * h) {
                rgb[3 * i] = gray[i]; rgb[3 * i + 1] = gray[i]; rgb[3 * i + 2] = gray[i]
            }
            if let key = raw.transparentColor {
                // convert_transparent compares the converted 8-bit value with the raw tRNS
                // value masked to 8 bits (mode "1" first maps a non-zero key to 255).
                let k = depth == 1 ? (key.gray != 0 ? 255 : 0) : UInt8(key.gray & 0xFF)
                alpha = gray.map { $0 == k ? 0 : 255 }
            }
        case Int32(ADALLAVA_COLOR_RGB):
            for y in 0..<h {
                for x in 0..<w {
                    for c in 0..<3 { rgb[(y * w + x) * 3 + c] = sample8(y, x, c) }
                }
            }
            if let key = raw.transparentColor {
                let k = (UInt8(key.red & 0xFF), UInt8(key.green & 0xFF), UInt8(key.blue & 0xFF))
                alpha = (0..<(w * h)).map { i in
                    rgb[3 * i] == k.0 && rgb[3 * i + 1] == k.1 && rgb[3 * i + 2] == k.2 ? 0 : 255
                }
            }
        case Int32(ADALLAVA_COLOR_PALETTE):
            // Entries past PLTE are black; alpha past tRNS is 255 (Pillow's palette defaults).
            var table = [UInt8](repeating: 0, count: 256 * 3)
            table.replaceSubrange(0..<raw.palette.count, with: raw.palette)
            var tableAlpha = [UInt8](repeating: 255, count: 256)
            tableAlpha.replaceSubrange(0..<raw.paletteAlpha.count, with: raw.paletteAlpha)
            var indices = [Int](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w { indices[y * w + x] = Int(data[y * raw.rowBytes + x]) }
            }
            for (i, p) in indices.enumerated() {
                rgb[3 * i] = table[3 * p]; rgb[3 * i + 1] = table[3 * p + 1]; rgb[3 * i + 2] = table[3 * p + 2]
            }
            if !raw.paletteAlpha.isEmpty { alpha = indices.map { tableAlpha[$0] } }
        case Int32(ADALLAVA_COLOR_GRAY_ALPHA):
            var a = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w {
                    let v = sample8(y, x, 0), i = y * w + x
                    rgb[3 * i] = v; rgb[3 * i + 1] = v; rgb[3 * i + 2] = v
                    a[i] = sample8(y, x, 1)
                }
            }
            alpha = a
        case Int32(ADALLAVA_COLOR_RGB_ALPHA):
            var a = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    for c in 0..<3 { rgb[3 * i + c] = sample8(y, x, c) }
                    a[i] = sample8(y, x, 3)
                }
            }
            alpha = a
        default:
            throw LLaVAModelError.fileUnreadable(path: path, reason: "unsupported PNG colour type \(raw.colorType)")
        }
        return RGBImage(width: w, height: h, pixels: rgb, alpha: alpha)
    }

    // MARK: JPEG

    static func jpegToRGB(_ raw: RawImage, path: String) throws -> RGBImage {
        let n = raw.width * raw.height, data = raw.data
        var rgb = [UInt8](repeating: 0, count: n * 3)
        switch raw.colorType {
        case Int32(ADALLAVA_COLOR_GRAY):
            for i in 0..<n { rgb[3 * i] = data[i]; rgb[3 * i + 1] = data[i]; rgb[3 * i + 2] = data[i] }
        case Int32(ADALLAVA_COLOR_RGB):
            rgb = data
        case Int32(ADALLAVA_COLOR_CMYK):
            // Pillow reads 4-component JPEGs as "CMYK;I" (every byte inverted, Adobe's
            // convention) and converts with cmyk2rgb: nk = 255 - K, c = clip(nk - nk*C/255).
            for i in 0..<n {
                let nk = Int(data[4 * i + 3])  // 255 - (255 - k)
                for c in 0..<3 {
                    let inverted = 255 - Int(data[4 * i + c])
                    let t = inverted * nk + 128
                    let mul = ((t >> 8) + t) >> 8
                    rgb[3 * i + c] = UInt8(clamping: nk - mul)
                }
            }
        default:
            throw LLaVAModelError.fileUnreadable(path: path, reason: "unsupported JPEG colour space \(raw.colorType)")
        }
        return RGBImage(width: raw.width, height: raw.height, pixels: rgb)
    }
}
