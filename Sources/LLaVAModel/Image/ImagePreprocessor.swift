import Foundation
import TensorKernels

/// Hugging Face `CLIPImageProcessor` (its PIL backend, `CLIPImageProcessorPil`) as LLaVA-1.5
/// checkpoints configure it, driven by `preprocessor_config.json`.
///
/// Steps, in the reference's order, all on 8-bit RGB until the last one:
/// 1. `padToSquare` (LLaVA-1.5's `image_aspect_ratio: "pad"`, not part of the HF processor):
///    alpha dropped, then `expand2square` onto a square filled with
///    `tuple(int(x * 255) for x in image_mean)`. Otherwise `do_convert_rgb` composites any
///    transparency onto white, as `convert_to_rgb` does.
/// 2. `do_resize`: output size from `size` (see `resizedSize`), Pillow resampling
///    (`PILResample`, bit-exact).
/// 3. `do_center_crop`: offsets `(in - crop) / 2` rounded down; a side smaller than the crop is
///    zero-padded first with `ceil((crop - in) / 2)` before it.
/// 4. `do_rescale` (`Float(Double(v) * rescale_factor)`, as numpy's float64 multiply then
///    float32 cast), `do_normalize` (`(x - mean) / std` in float32 with float32 mean/std).
public struct ImagePreprocessor: Sendable {
    public var config: ImageProcessorConfig
    /// LLaVA-1.5's `image_aspect_ratio == "pad"`: pad to a square before the HF steps.
    public var padToSquare: Bool

    /// Reads `<directory>/preprocessor_config.json`.
    public init(directory: String, padToSquare: Bool = false) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("preprocessor_config.json").path
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw LLaVAModelError.fileUnreadable(path: path, reason: exists ? "not readable" : "no such file")
        }
        try self.init(config: data, path: path, padToSquare: padToSquare)
    }

    /// Decodes and validates `preprocessor_config.json` bytes; `path` is only used in errors.
    public init(config data: Data, path: String, padToSquare: Bool = false) throws {
        let config: ImageProcessorConfig
        do {
            config = try JSONDecoder().decode(ImageProcessorConfig.self, from: data)
        } catch let error as DecodingError {
            throw LlavaConfig.describe(error, path: path)
        } catch let error as ImageProcessorConfig.FieldError {
            throw LLaVAModelError.invalidConfig(path: path, field: error.field, reason: error.reason)
        }
        try self.init(config: config, path: path, padToSquare: padToSquare)
    }

    public init(config: ImageProcessorConfig, path: String = "(preprocessor config)", padToSquare: Bool = false) throws {
        try config.validate(path: path)
        self.config = config
        self.padToSquare = padToSquare
    }

    /// The fill colour of `padToSquare`: `int(mean * 255)` per channel, truncated.
    public var padBackground: (UInt8, UInt8, UInt8) {
        func channel(_ m: Double) -> UInt8 { UInt8(clamping: Int(max(0, min(255, m * 255)))) }
        return (channel(config.imageMean[0]), channel(config.imageMean[1]), channel(config.imageMean[2]))
    }

    /// Loads a PNG/JPEG file and preprocesses it.
    public func pixelValues(path: String) throws -> Tensor {
        pixelValues(try RGBImage.load(path: path))
    }

    /// `pixel_values` for one image: `[1, 3, H, W]` fp32, channels R, G, B.
    public func pixelValues(_ image: RGBImage) -> Tensor {
        let img = processedImage(image)
        let h = img.height, w = img.width, plane = h * w
        var values = [Float](repeating: 0, count: 3 * plane)
        let mean = config.imageMean.map { Float($0) }, std = config.imageStd.map { Float($0) }
        for c in 0..<3 {
            // Per value, exactly the reference's arithmetic (see the type's doc comment).
            var table = [Float](repeating: 0, count: 256)
            for v in 0..<256 {
                var x = config.doRescale ? Float(Double(v) * config.rescaleFactor) : Float(v)
                if config.doNormalize { x = (x - mean[c]) / std[c] }
                table[v] = x
            }
            for i in 0..<plane { values[c * plane + i] = table[Int(img.pixels[i * 3 + c])] }
        }
        // pixels: [H, W, 3] u8 → pixel_values: [1, 3, H, W] f32
        return Tensor(shape: [1, 3, h, w], storage: values)
    }

    /// The 8-bit image after padding/compositing, resizing and cropping: what rescale and
    /// normalise are applied to.
    public func processedImage(_ image: RGBImage) -> RGBImage {
        var img: RGBImage
        if padToSquare {
            img = image.droppingAlpha().paddedToSquare(background: padBackground)
        } else if config.doConvertRGB {
            img = image.compositedOnWhite()
        } else {
            img = image.droppingAlpha()
        }
        if config.doResize {
            let (h, w) = Self.resizedSize(height: img.height, width: img.width, size: config.size)
            // validate() guarantees the filter exists.
            img = PILResample.resize(img, width: w, height: h, filter: PILResample.Filter(rawValue: config.resample)!)
        }
        if config.doCenterCrop {
            img = Self.centerCrop(img, height: config.cropHeight, width: config.cropWidth)
        }
        return img
    }

    /// `(height, width)` after the resize step, computed as transformers does: for
    /// `shortest_edge` alone `get_resize_output_image_size(default_to_square=False)` (long side
    /// `int(edge * long / short)`), with `longest_edge` `get_size_with_aspect_ratio`.
    public static func resizedSize(height: Int, width: Int, size: ImageProcessorConfig.Size) -> (Int, Int) {
        switch size {
        case let .exact(h, w):
            return (h, w)
        case let .shortestEdge(edge, nil):
            let short = min(height, width), long = max(height, width)
            let newLong = Int(Double(edge * long) / Double(short))
            return width <= height ? (max(newLong, 1), edge) : (edge, max(newLong, 1))
        case let .shortestEdge(edge, longest?):
            var size = edge
            var rawSize: Double? = nil
            let minSide = Double(min(height, width)), maxSide = Double(max(height, width))
            if maxSide / minSide * Double(size) > Double(longest) {
                let raw = Double(longest) * minSide / maxSide
                rawSize = raw
                size = Int(raw.rounded(.toNearestOrEven))
            }
            var oh: Int, ow: Int
            if (height <= width && height == size) || (width <= height && width == size) {
                (oh, ow) = (height, width)
            } else if width < height {
                ow = size
                oh = rawSize.map { Int($0 * Double(height) / Double(width)) } ?? Int(Double(size * height) / Double(width))
            } else {
                oh = size
                ow = rawSize.map { Int($0 * Double(width) / Double(height)) } ?? Int(Double(size * width) / Double(height))
            }
            return (max(oh, 1), max(ow, 1))
        }
    }

    /// transformers' numpy `center_crop` on an 8-bit image (zero padding where the image is
    /// smaller than the crop).
    static func centerCrop(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
        if image.height == height && image.width == width { return image }
        /// Source index of output index 0 along an axis (negative inside the zero padding).
        func offset(_ size: Int, _ crop: Int) -> Int {
            crop <= size ? (size - crop) / 2 : -((crop - size + 1) / 2)
        }
        let top = offset(image.height, height), left = offset(image.width, width)
        var out = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            let sy = y + top
            guard sy >= 0 && sy < image.height else { continue }
            for x in 0..<width {
                let sx = x + left
                guard sx >= 0 && sx < image.width else { continue }
                let s = (sy * image.width + sx) * 3, d = (y * width + x) * 3
                out[d] = image.pixels[s]; out[d + 1] = image.pixels[s + 1]; out[d + 2] = image.pixels[s + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
