import Foundation

/// An 8-bit RGB image as Pillow holds one after `Image.open(path)`: `pixels` is what
/// `.convert("RGB")` gives, `alpha` what `.convert("RGBA")` adds when the file has any
/// transparency (an alpha channel or a PNG `tRNS` chunk).
///
/// Keeping both lets the preprocessor follow either reference: LLaVA's own code opens images
/// with `.convert("RGB")` (alpha dropped), while Hugging Face's `CLIPImageProcessor` given the
/// opened image composites transparency onto white (see `compositedOnWhite()`).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes, rows top to bottom, pixels left to right, R G B interleaved.
    public var pixels: [UInt8]
    /// `height * width` alpha values (255 = opaque), or nil when the source had no transparency.
    public var alpha: [UInt8]?

    public init(width: Int, height: Int, pixels: [UInt8], alpha: [UInt8]? = nil) {
        precondition(width > 0 && height > 0, "RGBImage needs a positive size, got \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGBImage \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        precondition(alpha == nil || alpha!.count == width * height,
                     "RGBImage alpha needs \(width * height) bytes, got \(alpha!.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.alpha = alpha
    }

    /// `(r, g, b)` at column `x`, row `y`.
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Reads a PNG or JPEG file (the format is taken from the first bytes, not the extension).
    ///
    /// Pixels match Pillow's `Image.open(path)`: PNG sample conversions follow Pillow's unpackers
    /// (16-bit colour keeps the high byte; 16-bit grayscale clips at 255, as Pillow's `I;16` →
    /// `RGB` conversion does), and JPEG is decoded by libjpeg with its defaults (ISLOW IDCT,
    /// fancy upsampling), as Pillow does. EXIF orientation is not applied (neither does
    /// `Image.open`). Every failure throws `LLaVAModelError.fileUnreadable` naming `path`.
    public static func load(path: String) throws -> RGBImage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "is a directory, expected a PNG or JPEG image")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LLaVAModelError.fileUnreadable(path: path, reason: "not readable")
        }
        return try decode(data, path: path)
    }

    /// Decodes PNG or JPEG bytes; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String) throws -> RGBImage {
        let bytes = [UInt8](data)
        switch ImageFormat.sniff(bytes) {
        case .png:
            return try ImageCodecs.decodePNG(bytes, path: path)
        case .jpeg:
            return try ImageCodecs.decodeJPEG(bytes, path: path)
        case let .unsupported(found):
            throw LLaVAModelError.fileUnreadable(
                path: path, reason: "unsupported image format: found \(found), expected PNG or JPEG")
        }
    }

    /// The same image without its alpha channel (Pillow's `.convert("RGB")`).
    public func droppingAlpha() -> RGBImage {
        var copy = self
        copy.alpha = nil
        return copy
    }

    /// Transparency composited onto opaque white, as `transformers`' `convert_to_rgb` does for
    /// a PIL image with an alpha band or a `transparency` entry: `Image.alpha_composite(white,
    /// image.convert("RGBA")).convert("RGB")`, with Pillow's integer arithmetic. Returns `self`
    /// when there is no alpha.
    public func compositedOnWhite() -> RGBImage {
        guard let alpha else { return self }
        var out = [UInt8](repeating: 0, count: pixels.count)
        for i in 0..<(width * height) {
            let a = UInt32(alpha[i])
            for c in 0..<3 {
                out[i * 3 + c] = Self.alphaCompositeOverOpaque(
                    source: UInt32(pixels[i * 3 + c]), sourceAlpha: a, destination: 255)
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// One channel of Pillow's `ImagingAlphaComposite` with an opaque destination: blend
    /// weights in 7 fractional bits, divisions by 255 done as `((v >> 8) + v) >> 8`.
    static func alphaCompositeOverOpaque(source: UInt32, sourceAlpha: UInt32, destination: UInt32) -> UInt8 {
        if sourceAlpha == 0 { return UInt8(destination) }
        let precisionBits: UInt32 = 7
        let destinationAlpha: UInt32 = 255
        let blend = destinationAlpha * (255 - sourceAlpha)
        let outAlpha255 = sourceAlpha * 255 + blend
        let coef1 = sourceAlpha * 255 * 255 * (1 << precisionBits) / outAlpha255
        let coef2 = 255 * (1 << precisionBits) - coef1
        let v = source * coef1 + destination * coef2 + (0x80 << precisionBits)
        return UInt8((((v >> 8) + v) >> 8) >> precisionBits)
    }

    /// LLaVA's `expand2square`: the image centred on a square canvas of side `max(width,
    /// height)` filled with `background`; the offset of the shorter side is `(long - short) / 2`
    /// rounded down. A square image is returned unchanged. Alpha is dropped (LLaVA pads images
    /// it opened with `.convert("RGB")`).
    public func paddedToSquare(background: (UInt8, UInt8, UInt8)) -> RGBImage {
        if width == height { return droppingAlpha() }
        let side = max(width, height)
        let left = (side - width) / 2, top = (side - height) / 2
        var out = [UInt8](repeating: 0, count: side * side * 3)
        for i in 0..<(side * side) {
            out[i * 3] = background.0
            out[i * 3 + 1] = background.1
            out[i * 3 + 2] = background.2
        }
        for y in 0..<height {
            let src = y * width * 3
            let dst = ((y + top) * side + left) * 3
            out.replaceSubrange(dst..<(dst + width * 3), with: pixels[src..<(src + width * 3)])
        }
        return RGBImage(width: side, height: side, pixels: out)
    }
}

/// What the first bytes of a file say it is.
enum ImageFormat: Equatable {
    case png
    case jpeg
    /// A human-readable description of what was found instead (a format name or the bytes).
    case unsupported(String)

    static func sniff(_ bytes: [UInt8]) -> ImageFormat {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<(offset + prefix.count)]) == prefix
        }
        if bytes.isEmpty { return .unsupported("an empty file") }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        let known: [(prefix: [UInt8], offset: Int, name: String)] = [
            (Array("GIF87a".utf8), 0, "GIF image data"),
            (Array("GIF89a".utf8), 0, "GIF image data"),
            (Array("BM".utf8), 0, "BMP image data"),
            (Array("WEBP".utf8), 8, "WebP image data"),
            ([0x49, 0x49, 0x2A, 0x00], 0, "TIFF image data"),
            ([0x4D, 0x4D, 0x00, 0x2A], 0, "TIFF image data"),
            (Array("ftypavif".utf8), 4, "AVIF image data"),
            (Array("ftypheic".utf8), 4, "HEIC image data"),
            (Array("ftypmif1".utf8), 4, "HEIF image data"),
            ([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20], 0, "JPEG 2000 image data"),
            ([0x00, 0x00, 0x01, 0x00], 0, "ICO image data"),
            (Array("qoif".utf8), 0, "QOI image data"),
            (Array("%PDF".utf8), 0, "a PDF document"),
            (Array("<svg".utf8), 0, "SVG text"),
            (Array("<?xml".utf8), 0, "XML text"),
            (Array("P6".utf8), 0, "PPM image data"),
            (Array("P5".utf8), 0, "PGM image data"),
        ]
        for entry in known where starts(entry.prefix, at: entry.offset) {
            return .unsupported(entry.name)
        }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return .unsupported("a damaged PNG signature") }
        if starts([0xFF, 0xD8]) { return .unsupported("a damaged JPEG header") }
        let head = bytes.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
        return .unsupported("bytes \(head)")
    }
}
