import Foundation

/// `preprocessor_config.json` in the checkpoint's own words: the fields of Hugging Face's
/// `CLIPImageProcessor` that LLaVA-1.5 checkpoints set.
///
/// Absent keys take `CLIPImageProcessor`'s class defaults (bicubic, shortest edge 224, crop
/// 224, rescale by 1/255, OpenAI CLIP mean/std, every `do_*` true). Older spellings are
/// accepted as `get_size_dict` accepts them: `"size": 336` means `{"shortest_edge": 336}`
/// (CLIP does not default to square), `"crop_size": 336` means a 336 x 336 crop, and a
/// two-element list is `[height, width]`.
public struct ImageProcessorConfig: Codable, Sendable, Equatable {
    /// How `size` says to resize.
    public enum Size: Sendable, Equatable {
        /// Shorter side to `shortestEdge`, aspect kept (longer side truncated, as torchvision
        /// does); with `longestEdge`, the longer side is capped first.
        case shortestEdge(Int, longestEdge: Int?)
        /// Exactly `height` x `width`.
        case exact(height: Int, width: Int)
    }

    public var doConvertRGB: Bool
    public var doResize: Bool
    public var size: Size
    /// A Pillow `Image.Resampling` value (3 = bicubic).
    public var resample: Int
    public var doCenterCrop: Bool
    public var cropHeight: Int
    public var cropWidth: Int
    public var doRescale: Bool
    public var rescaleFactor: Double
    public var doNormalize: Bool
    public var imageMean: [Double]
    public var imageStd: [Double]

    enum CodingKeys: String, CodingKey {
        case doConvertRGB = "do_convert_rgb", doResize = "do_resize", size, resample
        case doCenterCrop = "do_center_crop", cropSize = "crop_size"
        case doRescale = "do_rescale", rescaleFactor = "rescale_factor"
        case doNormalize = "do_normalize", imageMean = "image_mean", imageStd = "image_std"
    }

    /// `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` in transformers.
    public static let openAICLIPMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAICLIPStd = [0.26862954, 0.26130258, 0.27577711]

    public init(doConvertRGB: Bool = true, doResize: Bool = true, size: Size = .shortestEdge(224, longestEdge: nil),
                resample: Int = 3, doCenterCrop: Bool = true, cropHeight: Int = 224, cropWidth: Int = 224,
                doRescale: Bool = true, rescaleFactor: Double = 1.0 / 255.0, doNormalize: Bool = true,
                imageMean: [Double] = openAICLIPMean, imageStd: [Double] = openAICLIPStd) {
        self.doConvertRGB = doConvertRGB
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doCenterCrop = doCenterCrop
        self.cropHeight = cropHeight
        self.cropWidth = cropWidth
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
    }

    /// `llava-hf/llava-1.5-7b-hf`'s `preprocessor_config.json`: shortest edge 336, 336 crop.
    public static let llava15 = ImageProcessorConfig(size: .shortestEdge(336, longestEdge: nil),
                                                     cropHeight: 336, cropWidth: 336)

    private struct SizeKeys: Codable {
        var shortestEdge: Int?, longestEdge: Int?, height: Int?, width: Int?
        enum CodingKeys: String, CodingKey {
            case shortestEdge = "shortest_edge", longestEdge = "longest_edge", height, width
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ImageProcessorConfig()
        doConvertRGB = try c.decodeIfPresent(Bool.self, forKey: .doConvertRGB) ?? defaults.doConvertRGB
        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? defaults.doResize
        resample = try c.decodeIfPresent(Int.self, forKey: .resample) ?? defaults.resample
        doCenterCrop = try c.decodeIfPresent(Bool.self, forKey: .doCenterCrop) ?? defaults.doCenterCrop
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? defaults.doRescale
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? defaults.rescaleFactor
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? defaults.doNormalize
        imageMean = try Self.decodeChannels(c, .imageMean) ?? defaults.imageMean
        imageStd = try Self.decodeChannels(c, .imageStd) ?? defaults.imageStd

        if c.contains(.size), try !c.decodeNil(forKey: .size) {
            if let edge = try? c.decode(Int.self, forKey: .size) {
                size = .shortestEdge(edge, longestEdge: nil)
            } else if let pair = try? c.decode([Int].self, forKey: .size) {
                guard pair.count == 2 else { throw Self.bad(c, .size, "a list must be [height, width]") }
                size = .exact(height: pair[0], width: pair[1])
            } else {
                let keys = try c.decode(SizeKeys.self, forKey: .size)
                if let edge = keys.shortestEdge {
                    size = .shortestEdge(edge, longestEdge: keys.longestEdge)
                } else if let h = keys.height, let w = keys.width {
                    size = .exact(height: h, width: w)
                } else {
                    throw Self.bad(c, .size, "expected {\"shortest_edge\": n} or {\"height\": h, \"width\": w}")
                }
            }
        } else {
            size = defaults.size
        }

        if c.contains(.cropSize), try !c.decodeNil(forKey: .cropSize) {
            if let side = try? c.decode(Int.self, forKey: .cropSize) {
                (cropHeight, cropWidth) = (side, side)
            } else if let pair = try? c.decode([Int].self, forKey: .cropSize) {
                guard pair.count == 2 else { throw Self.bad(c, .cropSize, "a list must be [height, width]") }
                (cropHeight, cropWidth) = (pair[0], pair[1])
            } else {
                let keys = try c.decode(SizeKeys.self, forKey: .cropSize)
                guard let h = keys.height, let w = keys.width else {
                    throw Self.bad(c, .cropSize, "expected {\"height\": h, \"width\": w}")
                }
                (cropHeight, cropWidth) = (h, w)
            }
        } else {
            (cropHeight, cropWidth) = (defaults.cropHeight, defaults.cropWidth)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(doConvertRGB, forKey: .doConvertRGB)
        try c.encode(doResize, forKey: .doResize)
        switch size {
        case let .shortestEdge(edge, longest):
            try c.encode(SizeKeys(shortestEdge: edge, longestEdge: longest), forKey: .size)
        case let .exact(h, w):
            try c.encode(SizeKeys(height: h, width: w), forKey: .size)
        }
        try c.encode(resample, forKey: .resample)
        try c.encode(doCenterCrop, forKey: .doCenterCrop)
        try c.encode(SizeKeys(height: cropHeight, width: cropWidth), forKey: .cropSize)
        try c.encode(doRescale, forKey: .doRescale)
        try c.encode(rescaleFactor, forKey: .rescaleFactor)
        try c.encode(doNormalize, forKey: .doNormalize)
        try c.encode(imageMean, forKey: .imageMean)
        try c.encode(imageStd, forKey: .imageStd)
    }

    /// A list of per-channel values, or one number for all three channels.
    private static func decodeChannels(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [Double]? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let one = try? c.decode(Double.self, forKey: key) { return [one, one, one] }
        return try c.decode([Double].self, forKey: key)
    }

    /// A field that is valid JSON but not a value the reference accepts; the caller adds the
    /// file path (`ImagePreprocessor.init(config:path:)`).
    struct FieldError: Error {
        var field: String, reason: String
    }

    private static func bad(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, _ reason: String) -> FieldError {
        FieldError(field: (c.codingPath + [key]).map(\.stringValue).joined(separator: "."), reason: reason)
    }

    /// Checks what the preprocessor relies on; `path` names the file in errors.
    public func validate(path: String) throws {
        func bad(_ field: String, _ reason: String) -> LLaVAModelError {
            .invalidConfig(path: path, field: field, reason: reason)
        }
        guard PILResample.Filter(rawValue: resample) != nil else {
            throw bad("resample", "\(resample) is not supported (expected 1 lanczos, 2 bilinear, 3 bicubic, 4 box or 5 hamming)")
        }
        switch size {
        case let .shortestEdge(edge, longest):
            guard edge > 0 else { throw bad("size.shortest_edge", "must be positive, got \(edge)") }
            if let longest, longest <= 0 { throw bad("size.longest_edge", "must be positive, got \(longest)") }
        case let .exact(h, w):
            guard h > 0, w > 0 else { throw bad("size", "height and width must be positive, got \(h)x\(w)") }
        }
        guard cropHeight > 0, cropWidth > 0 else {
            throw bad("crop_size", "height and width must be positive, got \(cropHeight)x\(cropWidth)")
        }
        guard rescaleFactor.isFinite else { throw bad("rescale_factor", "must be a finite number") }
        guard imageMean.count == 3 else { throw bad("image_mean", "expected 3 values (R, G, B), got \(imageMean.count)") }
        guard imageStd.count == 3 else { throw bad("image_std", "expected 3 values (R, G, B), got \(imageStd.count)") }
        if let zero = imageStd.firstIndex(where: { $0 == 0 || !$0.isFinite }) {
            throw bad("image_std[\(zero)]", "must be a non-zero finite number")
        }
    }
}
