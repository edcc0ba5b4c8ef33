import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

/// Files written by `scripts/make_image_golden.py` (see `Tests/Fixtures/images/README.md`).
enum ImageFixtures {
    static func path(_ name: String) -> String { Fixtures.path("images/\(name)") }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }

    /// Pillow's decode of `image`: `.convert("RGB")` plus the alpha transformers would see.
    static func pillowDecode(_ image: String) throws -> RGBImage {
        let info = try manifestImage(image)
        let alphaPath = path("decoded/\(image).alpha")
        let alpha = FileManager.default.fileExists(atPath: alphaPath) ? try bytes("decoded/\(image).alpha") : nil
        return RGBImage(width: info.width, height: info.height, pixels: try bytes("decoded/\(image).rgb"), alpha: alpha)
    }

    static func manifestImage(_ image: String) throws -> (width: Int, height: Int) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("manifest.json"))))
        let images = (json as? [String: Any])?["images"] as? [String: Any]
        let entry = try #require(images?[image] as? [String: Any], "\(image) is not in manifest.json")
        return (try #require(entry["width"] as? Int), try #require(entry["height"] as? Int))
    }

    static func float32(_ name: String) throws -> [Float] {
        let raw = try bytes(name)
        return stride(from: 0, to: raw.count, by: 4).map { i in
            Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
        }
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// A fresh scratch directory for generated bad files.
    static func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adallava-image-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}


@Suite("PNG and JPEG files decode to the pixels Pillow gives")
struct ImageDecodingTests {
    static let pngs = [
        "gray1_11x3.png", "gray2_7x3.png", "gray4_5x3.png", "gray8_trns_5x3.png", "gray16_4x3.png",
        "gray16_trns_4x3.png", "rgb8_5x3.png", "rgb8_trns_5x3.png", "rgb16_5x3.png", "palette8_trns_6x3.png",
        "palette4_simple_trns_6x3.png", "palette2_6x3.png", "palette1_9x2.png", "la8_5x3.png", "la16_5x3.png",
        "rgba8_5x3.png", "rgba16_5x3.png", "rgba8_interlaced_9x7.png", "rgb16_interlaced_5x5.png",
        "scene_rgba_173x97.png", "small_rgb_31x19.png",
    ]
    static let jpegs = ["gray_31x19.jpg", "rgb444_31x19.jpg", "rgb422_progressive_31x19.jpg", "cmyk_31x19.jpg", "scene_211x149.jpg"]

    @Test("every PNG colour type, bit depth, tRNS and interlace case matches Pillow exactly", arguments: pngs)
    func png(name: String) throws {
        let image = try RGBImage.load(path: ImageFixtures.path(name))
        let pillow = try ImageFixtures.pillowDecode(name)
        #expect(image.width == pillow.width && image.height == pillow.height)
        #expect(image.pixels == pillow.pixels)
        #expect(image.alpha == pillow.alpha)
    }

    /// The system libjpeg(-turbo) may differ from the one in Pillow's wheel; with libjpeg's
    /// defaults (ISLOW IDCT, fancy upsampling) libjpeg-turbo 2.1 and 3.x agree bit for bit.
    static let jpegTolerance: UInt8 = 0

    @Test("JPEGs (gray, 4:4:4, progressive 4:2:2, 4:2:0, Adobe CMYK) match Pillow's decode", arguments: jpegs)
    func jpeg(name: String) throws {
        let image = try RGBImage.load(path: ImageFixtures.path(name))
        let pillow = try ImageFixtures.pillowDecode(name)
        #expect(image.width == pillow.width && image.height == pillow.height)
        #expect(image.alpha == nil)
        let worst = zip(image.pixels, pillow.pixels).map { $0 > $1 ? $0 - $1 : $1 - $0 }.max() ?? 0
        #expect(worst <= Self.jpegTolerance, "max |libjpeg - Pillow| = \(worst) in \(name)")
    }

    @Test("known pixels survive the round trip, including Pillow's 16-bit rules")
    func knownPixels() throws {
        let rgb = try RGBImage.load(path: ImageFixtures.path("rgb8_trns_5x3.png"))
        #expect(rgb.pixel(x: 2, y: 1) == (10, 20, 30))
        #expect(rgb.alpha?[1 * 5 + 2] == 0)  // the tRNS colour key
        // 16-bit grayscale is Pillow's "I;16": converting to RGB clips at 255 instead of scaling.
        let gray16 = try RGBImage.load(path: ImageFixtures.path("gray16_4x3.png"))
        #expect((0..<4).map { gray16.pixel(x: $0, y: 0).0 } == [0, 255, 255, 255])
        #expect((0..<4).map { gray16.pixel(x: $0, y: 1).0 } == [255, 12, 200, 255])
        #expect(gray16.alpha == nil)
    }
}

@Suite("Pillow's resampler is reproduced bit for bit")
struct PILResampleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var image: String, prefix: String, filter: Int, width: Int, height: Int
        var name: String { "\(prefix)\(["", "lanczos", "bilinear", "bicubic", "box", "hamming"][filter])_\(width)x\(height)" }
        var testDescription: String { name }
    }

    /// `(200, 9)` and `(250, 40)` grow the width and shrink the height: Pillow 13 resizes
    /// vertically first there. The scene cases downscale about 9x (wide kernels).
    static let cases: [Case] = {
        let small = [(13, 7), (31, 7), (64, 19), (47, 50), (5, 3), (1, 1), (200, 9)]
        let scene = [(23, 16), (7, 5), (250, 40)]
        return [1, 2, 3, 4, 5].flatMap { f in small.map { Case(image: "small_rgb_31x19.png", prefix: "", filter: f, width: $0.0, height: $0.1) } }
            + [3, 1].flatMap { f in scene.map { Case(image: "scene_211x149.jpg", prefix: "scene_", filter: f, width: $0.0, height: $0.1) } }
    }()

    @Test("Image.resize with every convolution filter, up, down and one axis at a time", arguments: cases)
    func resize(c: Case) throws {
        let source = try ImageFixtures.pillowDecode(c.image).droppingAlpha()
        let out = PILResample.resize(source, width: c.width, height: c.height, filter: PILResample.Filter(rawValue: c.filter)!)
        let expected = try ImageFixtures.bytes("resize/\(c.name).u8")
        #expect(out.pixels.count == expected.count)
        let wrong = zip(out.pixels, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(wrong.isEmpty, "\(wrong.count) bytes differ, first at \(wrong.first.map { "\($0.offset): \($0.element)" } ?? "")")
    }

    @Test("bicubic weights are the Keys kernel with a = -0.5")
    func bicubicKernel() {
        let f = PILResample.Filter.bicubic
        #expect(f.weight(0) == 1)
        #expect(f.weight(1) == 0 && f.weight(-2) == 0 && f.weight(2.5) == 0)
        #expect(f.weight(0.5) == 0.5625 && f.weight(1.5) == -0.0625)
    }

    @Test("fixed-point weights of each output sum to 1 << 22 within rounding")
    func weightsSumToOne() {
        for (inSize, outSize) in [(97, 56), (19, 56), (211, 79), (5, 1)] {
            let c = PILResample.coefficients(inSize: inSize, outSize: outSize, filter: .bicubic)
            for o in 0..<outSize {
                let sum = (0..<c.count[o]).reduce(0) { $0 + Int(c.weights[o * c.taps + $1]) }
                #expect(abs(sum - (1 << 22)) <= c.count[o])
            }
        }
    }
}

@Suite("CLIP preprocessing matches transformers' CLIPImageProcessor (PIL backend)")
struct ImagePreprocessorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String, image: String, config: String, pad: Bool, shape: [Int]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "png_clip56", image: "scene_rgba_173x97.png", config: "clip56", pad: false, shape: [1, 3, 56, 56]),
        Case(name: "jpg_clip56", image: "scene_211x149.jpg", config: "clip56", pad: false, shape: [1, 3, 56, 56]),
        Case(name: "small_clip56", image: "small_rgb_31x19.png", config: "clip56", pad: false, shape: [1, 3, 56, 56]),
        Case(name: "png_pad_clip56", image: "scene_rgba_173x97.png", config: "clip56", pad: true, shape: [1, 3, 56, 56]),
        Case(name: "jpg_pad_clip56", image: "scene_211x149.jpg", config: "clip56", pad: true, shape: [1, 3, 56, 56]),
        Case(name: "small_pad_clip56", image: "small_rgb_31x19.png", config: "clip56", pad: true, shape: [1, 3, 56, 56]),
        Case(name: "jpg_exact_bilinear", image: "scene_211x149.jpg", config: "exact_bilinear_45x60", pad: false, shape: [1, 3, 45, 60]),
        Case(name: "jpg_crop_pad", image: "scene_211x149.jpg", config: "crop_pad_40", pad: false, shape: [1, 3, 48, 44]),
        Case(name: "la16_clip56", image: "la16_5x3.png", config: "clip56", pad: false, shape: [1, 3, 56, 56]),
        Case(name: "palette_trns_clip56", image: "palette8_trns_6x3.png", config: "clip56", pad: false, shape: [1, 3, 56, 56]),
    ]

    @Test("pixel_values from the image file match HF within 1e-5", arguments: cases)
    func fromFile(c: Case) throws {
        let processor = try ImagePreprocessor(directory: ImageFixtures.path("configs/\(c.config)"), padToSquare: c.pad)
        let values = try processor.pixelValues(path: ImageFixtures.path(c.image))
        let expected = try ImageFixtures.float32("expected/\(c.name).f32")
        #expect(values.shape == c.shape)
        #expect(ImageFixtures.maxAbsDifference(values.storage, expected) <= 1e-5)
    }

    @Test("pixel_values from Pillow's decoded pixels are bit-identical to HF", arguments: cases)
    func fromPillowPixels(c: Case) throws {
        let processor = try ImagePreprocessor(directory: ImageFixtures.path("configs/\(c.config)"), padToSquare: c.pad)
        let values = processor.pixelValues(try ImageFixtures.pillowDecode(c.image))
        let expected = try ImageFixtures.float32("expected/\(c.name).f32")
        #expect(values.shape == c.shape)
        #expect(values.storage == expected)
    }

    @Test("output size follows transformers' int() truncation for shortest_edge",
          arguments: [(149, 211, 56, 56, 79), (211, 149, 56, 79, 56), (97, 173, 56, 56, 99), (19, 31, 56, 56, 91),
                      (3, 5, 56, 56, 93), (50, 50, 7, 7, 7), (1000, 3, 336, 112000, 336)])
    func shortestEdge(height: Int, width: Int, edge: Int, outHeight: Int, outWidth: Int) {
        let (h, w) = ImagePreprocessor.resizedSize(height: height, width: width, size: .shortestEdge(edge, longestEdge: nil))
        #expect(h == outHeight && w == outWidth)
    }

    @Test("longest_edge caps the long side as get_size_with_aspect_ratio does")
    func longestEdge() {
        // 100x400 with shortest 200 would be 800 long; capped at 500: short = round(125) = 125.
        let (h, w) = ImagePreprocessor.resizedSize(height: 100, width: 400, size: .shortestEdge(200, longestEdge: 500))
        #expect(h == 125 && w == 500)
    }

    @Test("center crop rounds offsets down and zero-pads a short side with ceil((crop - n) / 2) first")
    func centerCrop() {
        let image = RGBImage(width: 3, height: 5, pixels: (0..<45).map { UInt8($0 + 1) })
        let out = ImagePreprocessor.centerCrop(image, height: 2, width: 6)
        // rows: (5 - 2) / 2 = 1 → rows 1, 2; columns: pad ceil(3 / 2) = 2 before, 1 after.
        #expect(out.pixel(x: 0, y: 0) == (0, 0, 0) && out.pixel(x: 1, y: 0) == (0, 0, 0))
        #expect(out.pixel(x: 2, y: 0) == image.pixel(x: 0, y: 1))
        #expect(out.pixel(x: 4, y: 1) == image.pixel(x: 2, y: 2))
        #expect(out.pixel(x: 5, y: 1) == (0, 0, 0))
    }

    @Test("pad-to-square fills with int(mean * 255) and centres the image like expand2square")
    func padToSquare() throws {
        let processor = try ImagePreprocessor(config: .llava15, padToSquare: true)
        #expect(processor.padBackground == (122, 116, 104))
        let wide = RGBImage(width: 4, height: 1, pixels: [UInt8](repeating: 9, count: 12))
        let square = wide.paddedToSquare(background: processor.padBackground)
        #expect(square.width == 4 && square.height == 4)
        #expect(square.pixel(x: 0, y: 1) == (9, 9, 9))  // (4 - 1) / 2 = 1 row above
        #expect(square.pixel(x: 0, y: 0) == (122, 116, 104) && square.pixel(x: 3, y: 3) == (122, 116, 104))
    }

    @Test("alpha composites onto white with Pillow's integer rounding")
    func compositeOnWhite() {
        #expect(RGBImage.alphaCompositeOverOpaque(source: 0, sourceAlpha: 0, destination: 255) == 255)
        #expect(RGBImage.alphaCompositeOverOpaque(source: 17, sourceAlpha: 255, destination: 255) == 17)
        #expect(RGBImage.alphaCompositeOverOpaque(source: 0, sourceAlpha: 128, destination: 255) == 127)
        for a in 0...255 as ClosedRange<UInt32> {
            for s in stride(from: 0, through: 255, by: 15) as StrideThrough<UInt32> {
                let exact = (Double(s) * Double(a) + 255 * Double(255 - a)) / 255
                let v = Double(RGBImage.alphaCompositeOverOpaque(source: s, sourceAlpha: a, destination: 255))
                #expect(abs(v - exact) <= 1)
            }
        }
    }
}

@Suite("preprocessor_config.json is read in the checkpoint's own words")
struct ImageProcessorConfigTests {
    let path = "/tmp/preprocessor_config.json"

    func decode(_ json: String) throws -> ImagePreprocessor {
        try ImagePreprocessor(config: Data(json.utf8), path: path)
    }

    @Test("absent keys take CLIPImageProcessor's defaults")
    func defaults() throws {
        let c = try decode("{}").config
        #expect(c == ImageProcessorConfig())
        #expect(c.size == .shortestEdge(224, longestEdge: nil) && c.cropHeight == 224 && c.resample == 3)
        #expect(c.rescaleFactor == 1.0 / 255.0 && c.imageMean == ImageProcessorConfig.openAICLIPMean)
    }

    @Test("the legacy integer spellings mean shortest edge and a square crop")
    func legacy() throws {
        let c = try decode(#"{"size": 336, "crop_size": 336}"#).config
        #expect(c == .llava15)
        let pair = try decode(#"{"size": [20, 30], "crop_size": [10, 12], "image_mean": 0.5, "image_std": 0.25}"#).config
        #expect(pair.size == .exact(height: 20, width: 30) && pair.cropHeight == 10 && pair.cropWidth == 12)
        #expect(pair.imageMean == [0.5, 0.5, 0.5] && pair.imageStd == [0.25, 0.25, 0.25])
    }

    @Test("the committed clip56 fixture config decodes to shortest edge 56, crop 56, bicubic")
    func fixtureConfig() throws {
        let c = try ImagePreprocessor(directory: ImageFixtures.path("configs/clip56")).config
        #expect(c.size == .shortestEdge(56, longestEdge: nil) && c.cropHeight == 56 && c.cropWidth == 56)
        #expect(c.resample == 3 && c.doConvertRGB && c.doCenterCrop && c.doRescale && c.doNormalize)
    }

    @Test("a config survives an encode/decode round trip")
    func roundTrip() throws {
        for config in [ImageProcessorConfig.llava15, ImageProcessorConfig(size: .exact(height: 7, width: 9), resample: 2)] {
            let data = try JSONEncoder().encode(config)
            #expect(try ImagePreprocessor(config: data, path: path).config == config)
        }
    }

    @Test("bad values are rejected with the field named",
          arguments: [(#"{"resample": 0}"#, "resample"), (#"{"size": {"foo": 3}}"#, "size"),
                      (#"{"image_mean": [0.5, 0.5]}"#, "image_mean"), (#"{"image_std": [1, 0, 1]}"#, "image_std[1]"),
                      (#"{"crop_size": {"height": 0, "width": 3}}"#, "crop_size"), (#"{"do_resize": "yes"}"#, "do_resize"),
                      (#"{"size": {"shortest_edge": -1}}"#, "size.shortest_edge")])
    func rejected(json: String, field: String) {
        do {
            _ = try decode(json)
            Issue.record("expected an error for \(json)")
        } catch {
            #expect("\(error)".hasPrefix("\(path): field '\(field)'"), "\(error)")
        }
    }

    @Test("a checkpoint without preprocessor_config.json names the missing file")
    func missingFile() throws {
        let dir = try ImageFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: LLaVAModelError.fileUnreadable(path: dir.appendingPathComponent("preprocessor_config.json").path,
                                                       reason: "no such file")) {
            try ImagePreprocessor(directory: dir.path)
        }
    }
}

@Suite("bad image files give an error naming the file, never a crash")
struct BadImageTests {
    /// Writes `bytes` to a scratch file and returns the error `RGBImage.load` throws for it.
    func loadError(_ bytes: [UInt8], name: String) throws -> String? {
        let dir = try ImageFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        do {
            _ = try RGBImage.load(path: file)
            return nil
        } catch let error as LLaVAModelError {
            guard case let .fileUnreadable(path, _) = error else { return "wrong case: \(error)" }
            #expect(path == file)
            return "\(error)"
        }
    }

    @Test("a missing file and a directory")
    func missing() throws {
        #expect(throws: LLaVAModelError.fileUnreadable(path: "/nonexistent/cat.png", reason: "no such file")) {
            try RGBImage.load(path: "/nonexistent/cat.png")
        }
        let dir = try ImageFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: LLaVAModelError.self) { try RGBImage.load(path: dir.path) }
    }

    @Test("unsupported formats say what was found",
          arguments: [("GIF89a\u{01}\u{00}\u{01}\u{00}", "GIF image data"), ("BM\u{36}\u{00}\u{00}\u{00}", "BMP image data"),
                      ("RIFF\u{00}\u{00}\u{00}\u{00}WEBPVP8 ", "WebP image data"), ("", "an empty file"),
                      ("hello, world", "bytes 68 65 6C 6C 6F 2C 20 77")])
    func unsupported(header: String, found: String) throws {
        let message = try loadError(Array(header.utf8), name: "picture.png")
        #expect(message?.contains("unsupported image format: found \(found), expected PNG or JPEG") == true, "\(message ?? "no error")")
    }

    @Test("random bytes are rejected")
    func randomBytes() throws {
        var state: UInt64 = 0x1234_5678
        let bytes = (0..<4096).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        #expect(try loadError(bytes, name: "noise.jpg") != nil)
    }

    @Test("truncated files are errors, not partial images",
          arguments: ["scene_rgba_173x97.png", "scene_211x149.jpg", "rgb422_progressive_31x19.jpg", "rgba8_interlaced_9x7.png"])
    func truncated(name: String) throws {
        let bytes = try ImageFixtures.bytes(name)
        for keep in [8, 30, bytes.count / 3, bytes.count / 2, bytes.count - 20] {
            let message = try loadError(Array(bytes.prefix(keep)), name: "cut-\(name)")
            #expect(message?.contains("corrupt or truncated") == true, "\(name) cut at \(keep): \(message ?? "no error")")
        }
    }

    @Test("a PNG with a damaged IDAT fails cleanly")
    func damagedPNG() throws {
        var bytes = try ImageFixtures.bytes("scene_rgba_173x97.png")
        // Overwrite the middle of the compressed data (CRC of IDAT then fails too).
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0x5A }
        #expect(try loadError(bytes, name: "damaged.png")?.contains("corrupt or truncated PNG") == true)
    }

    @Test("mutated PNGs and JPEGs either decode or throw fileUnreadable", arguments: ["rgb8_trns_5x3.png", "gray_31x19.jpg", "palette4_simple_trns_6x3.png"])
    func mutations(name: String) throws {
        let original = try ImageFixtures.bytes(name)
        var state: UInt64 = 42
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let dir = try ImageFixtures.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent(name).path
        for _ in 0..<150 {
            var bytes = original
            for _ in 0..<(1 + next(4)) { bytes[next(bytes.count)] = UInt8(next(256)) }
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            do {
                let image = try RGBImage.load(path: file)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch let LLaVAModelError.fileUnreadable(path, _) {
                #expect(path == file)
            }
        }
    }
}
