#!/usr/bin/env python3
"""Generate the image-decoding and CLIP-preprocessing fixtures under Tests/Fixtures/images/.

Everything is synthetic (numpy, seeded) and written by this script; the references are
Pillow (decoding, ``Image.resize``) and transformers' ``CLIPImageProcessorPil`` (the PIL
backend of ``CLIPImageProcessor``; in transformers 5.x plain ``CLIPImageProcessor`` is the
torchvision backend, which resizes differently and is not what LLaVA-1.5 was trained with),
plus LLaVA's own ``expand2square`` for the ``image_aspect_ratio == "pad"`` variant.

How to run (CI never runs this; the outputs are committed):

    /opt/golden-venv/bin/pip install Pillow==13.0.0   # in addition to requirements-golden.txt
    /opt/golden-venv/bin/python scripts/make_image_golden.py

Optional argument: an output directory (default: Tests/Fixtures/images in this repository).
Running it twice gives byte-identical files.

Layout of the output directory:

    *.png, *.jpg                 the images (PNGs are written by a small encoder below so that
                                 every colour type / bit depth / tRNS / interlace case exists)
    decoded/<image>.rgb          Pillow's Image.open(path).convert("RGB"), raw HWC uint8
    decoded/<image>.alpha        .convert("RGBA") alpha, only for images with transparency
                                 (alpha band or tRNS), as transformers' convert_to_rgb sees it
    configs/<name>/preprocessor_config.json
    expected/<case>.f32          pixel_values [1, 3, H, W], float32 little-endian
    resize/<case>.u8             Pillow Image.resize outputs, raw HWC uint8
    manifest.json                what each file is, with shapes
    README.md                    the same, for humans
"""

import json
import math
import warnings
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import PIL
import PIL.features
import transformers
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# --------------------------------------------------------------------------- PNG encoder


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _filter_rows(rows, bpp):
    """Filter each packed scanline with filter type (row index % 5), as a PNG encoder may."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ftype = y % 5
        line = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][ftype]
            line.append((x - pred) & 0xFF)
        out.append(ftype)
        out += line
        prev = row
    return bytes(out)


def _pack_row(samples, bit_depth):
    """samples: 1-D sequence of ints for one scanline (all channels interleaved)."""
    if bit_depth == 16:
        return b"".join(struct.pack(">H", int(s)) for s in samples)
    if bit_depth == 8:
        return bytes(int(s) for s in samples)
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = list(samples[i : i + per_byte])
        group += [0] * (per_byte - len(group))
        for s in group:
            byte = (byte << bit_depth) | int(s)
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, samples, bit_depth, color_type, palette=None, trns=None, interlace=False):
    """samples: uint array [H, W, C]; palette: list of (r, g, b); trns: raw tRNS payload bytes."""
    h, w, c = samples.shape
    bpp = max(1, c * bit_depth // 8)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += _filter_rows([_pack_row(r.reshape(-1), bit_depth) for r in sub], bpp)
    else:
        raw = _filter_rows([_pack_row(r.reshape(-1), bit_depth) for r in samples], bpp)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        data += _chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
    if trns is not None:
        data += _chunk(b"tRNS", trns)
    data += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------- synthetic content


def scene(h, w, seed):
    """RGB float image in [0, 255]: gradients, hard edges, a disc, stripes and a little noise,
    so that resampling (antialiasing, ringing near edges, clipping) matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(x / 3.1) * np.cos(y / 4.7)
    img = np.stack([r, g, b], axis=-1)
    # Hard-edged checkerboard in one quadrant (black/white: over/undershoot gets clipped).
    check = ((x // 4 + y // 4) % 2 == 0) & (x < w * 0.4) & (y < h * 0.5)
    img[check] = 255
    img[((x // 4 + y // 4) % 2 == 1) & (x < w * 0.4) & (y < h * 0.5)] = 0
    # A saturated disc.
    disc = (x - w * 0.7) ** 2 + (y - h * 0.6) ** 2 < (min(h, w) * 0.22) ** 2
    img[disc] = [250, 20, 40]
    # One-pixel vertical stripes.
    stripes = (x > w * 0.45) & (x < w * 0.55) & (x % 2 == 0)
    img[stripes] = [10, 200, 90]
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- reference processing


def hf_alpha(path):
    """What transformers' convert_to_rgb sees: alpha of convert("RGBA") when there is any."""
    im = Image.open(path)
    if "A" in im.getbands() or im.info.get("transparency") is not None:
        return np.array(im.convert("RGBA"))[..., 3]
    return None


def processor_for(config_dir):
    return CLIPImageProcessorPil.from_pretrained(config_dir)


def expand2square(pil_img, background_color):
    """LLaVA-1.5's llava/mm_utils.py expand2square, verbatim in behaviour."""
    width, height = pil_img.size
    if width == height:
        return pil_img
    elif width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    else:
        result = Image.new(pil_img.mode, (height, height), background_color)
        result.paste(pil_img, ((height - width) // 2, 0))
        return result


def hf_pixel_values(path, config_dir, pad):
    proc = processor_for(config_dir)
    if pad:
        # LLaVA: Image.open(f).convert("RGB"), expand2square(mean * 255), then the processor.
        img = Image.open(path).convert("RGB")
        img = expand2square(img, tuple(int(x * 255) for x in proc.image_mean))
    else:
        # transformers: the opened image goes to the processor as is (it composites alpha).
        img = Image.open(path)
    out = proc(images=img, return_tensors="np")["pixel_values"]
    assert out.dtype == np.float32, out.dtype
    return out


def reference_pixel_values(path, cfg, pad):
    """An independent numpy restatement of the PIL pipeline, checked bitwise against HF so
    the README's description of the arithmetic is known to be right."""
    im = Image.open(path)
    mean = cfg.get("image_mean", OPENAI_CLIP_MEAN)
    std = cfg.get("image_std", OPENAI_CLIP_STD)
    if pad:
        im = expand2square(im.convert("RGB"), tuple(int(x * 255) for x in mean))
    elif "A" in im.getbands() or im.info.get("transparency") is not None:
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA")).convert("RGB")
    else:
        im = im.convert("RGB")
    size = cfg["size"]
    h, w = im.height, im.width
    if "shortest_edge" in size:
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size["shortest_edge"] * long / short)
        oh, ow = (new_long, size["shortest_edge"]) if w <= h else (size["shortest_edge"], new_long)
    else:
        oh, ow = size["height"], size["width"]
    if (ow, oh) != im.size:
        im = im.resize((ow, oh), resample=cfg.get("resample", 3))
    a = np.array(im)  # [H, W, 3] uint8
    if cfg.get("do_center_crop", True):
        ch, cw = cfg["crop_size"]["height"], cfg["crop_size"]["width"]
        out = np.zeros((ch, cw, 3), np.uint8)
        def axis(n, c):
            return (n - c) // 2 if c <= n else -math.ceil((c - n) / 2)
        top, left = axis(a.shape[0], ch), axis(a.shape[1], cw)
        for yy in range(ch):
            for xx in range(cw):
                sy, sx = yy + top, xx + left
                if 0 <= sy < a.shape[0] and 0 <= sx < a.shape[1]:
                    out[yy, xx] = a[sy, sx]
        a = out
    x = (a.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return x.transpose(2, 0, 1)[None]


# --------------------------------------------------------------------------- main


def main():
    # convert("RGB") of a palette image with per-entry tRNS warns; that conversion is wanted here.
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO_ROOT, "Tests", "Fixtures", "images")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.exists(os.path.join(out_dir, "manifest.json")):
            sys.exit(f"{out_dir} is not empty and has no manifest.json; refusing to delete it")
        shutil.rmtree(out_dir)
    for sub in ("decoded", "configs", "expected", "resize"):
        os.makedirs(os.path.join(out_dir, sub))
    manifest = {
        "versions": {
            "Pillow": PIL.__version__,
            "libjpeg_turbo": PIL.features.version("libjpeg_turbo"),
            "transformers": transformers.__version__,
            "numpy": np.__version__,
        },
        "images": {},
        "preprocess": [],
        "resize": [],
    }

    def path(name):
        return os.path.join(out_dir, name)

    # ---- the two preprocessing images (odd sizes) and a small one for upscaling
    rgba = np.dstack([scene(97, 173, 1), np.zeros((97, 173), np.uint8)])
    yy, xx = np.mgrid[0:97, 0:173]
    rgba[..., 3] = np.clip(np.rint(255 * xx / 172), 0, 255)  # alpha ramp 0..255 left to right
    rgba[:10, :, 3] = 255  # an opaque band
    rgba[-8:, :, 3] = 0  # a fully transparent band (its RGB is still noisy content)
    write_png(path("scene_rgba_173x97.png"), rgba, 8, 6)
    Image.fromarray(scene(149, 211, 2)).save(path("scene_211x149.jpg"), quality=90)  # 4:2:0
    write_png(path("small_rgb_31x19.png"), scene(19, 31, 3), 8, 2)

    # ---- tiny round-trip PNGs: every colour type and bit depth Pillow reads
    rng = np.random.default_rng(7)
    tiny = {}
    tiny["gray1_11x3.png"] = (rng.integers(0, 2, (3, 11, 1)), 1, 0, {})
    tiny["gray2_7x3.png"] = (rng.integers(0, 4, (3, 7, 1)), 2, 0, {"trns": struct.pack(">H", 2)})
    tiny["gray4_5x3.png"] = (rng.integers(0, 16, (3, 5, 1)), 4, 0, {})
    g8 = rng.integers(0, 256, (3, 5, 1))
    g8[0, 0, 0] = 77
    tiny["gray8_trns_5x3.png"] = (g8, 8, 0, {"trns": struct.pack(">H", 77)})
    g16 = np.array([[[0], [255], [256], [1000]], [[65535], [12], [200], [255]], [[300], [4], [77], [0]]])
    tiny["gray16_4x3.png"] = (g16, 16, 0, {})
    tiny["gray16_trns_4x3.png"] = (g16, 16, 0, {"trns": struct.pack(">H", 12)})
    rgb8 = rng.integers(0, 256, (3, 5, 3))
    rgb8[1, 2] = [10, 20, 30]
    tiny["rgb8_5x3.png"] = (rgb8, 8, 2, {})
    tiny["rgb8_trns_5x3.png"] = (rgb8, 8, 2, {"trns": struct.pack(">HHH", 10, 20, 30)})
    tiny["rgb16_5x3.png"] = (rng.integers(0, 65536, (3, 5, 3)), 16, 2, {})
    palette = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(6)]
    tiny["palette8_trns_6x3.png"] = (rng.integers(0, 6, (3, 6, 1)), 8, 3,
                                     {"palette": palette, "trns": bytes([0, 128, 255, 40])})
    tiny["palette4_simple_trns_6x3.png"] = (rng.integers(0, 6, (3, 6, 1)), 4, 3,
                                            {"palette": palette, "trns": bytes([255, 255, 0])})
    tiny["palette2_6x3.png"] = (rng.integers(0, 4, (3, 6, 1)), 2, 3, {"palette": palette[:4]})
    tiny["palette1_9x2.png"] = (rng.integers(0, 2, (2, 9, 1)), 1, 3, {"palette": palette[:2]})
    tiny["la8_5x3.png"] = (rng.integers(0, 256, (3, 5, 2)), 8, 4, {})
    tiny["la16_5x3.png"] = (rng.integers(0, 65536, (3, 5, 2)), 16, 4, {})
    tiny["rgba8_5x3.png"] = (rng.integers(0, 256, (3, 5, 4)), 8, 6, {})
    tiny["rgba16_5x3.png"] = (rng.integers(0, 65536, (3, 5, 4)), 16, 6, {})
    tiny["rgba8_interlaced_9x7.png"] = (rng.integers(0, 256, (7, 9, 4)), 8, 6, {"interlace": True})
    tiny["rgb16_interlaced_5x5.png"] = (rng.integers(0, 65536, (5, 5, 3)), 16, 2, {"interlace": True})
    for name, (samples, depth, ctype, extra) in tiny.items():
        write_png(path(name), samples, depth, ctype, **extra)

    # ---- tiny JPEGs: gray, 4:4:4, 4:2:2 progressive, CMYK (Adobe, inverted)
    small = scene(19, 31, 4)
    Image.fromarray(small[..., 1]).save(path("gray_31x19.jpg"), quality=85)
    Image.fromarray(small).save(path("rgb444_31x19.jpg"), quality=85, subsampling=0)
    Image.fromarray(small).save(path("rgb422_progressive_31x19.jpg"), quality=85, subsampling=1, progressive=True)
    Image.fromarray(small).convert("CMYK").save(path("cmyk_31x19.jpg"), quality=85)

    images = ["scene_rgba_173x97.png", "scene_211x149.jpg", "small_rgb_31x19.png"] + list(tiny) + [
        "gray_31x19.jpg", "rgb444_31x19.jpg", "rgb422_progressive_31x19.jpg", "cmyk_31x19.jpg"]
    for name in images:
        im = Image.open(path(name))
        rgb = np.array(im.convert("RGB"))
        with open(path(f"decoded/{name}.rgb"), "wb") as f:
            f.write(rgb.tobytes())
        alpha = hf_alpha(path(name))
        if alpha is not None:
            with open(path(f"decoded/{name}.alpha"), "wb") as f:
                f.write(alpha.tobytes())
        manifest["images"][name] = {
            "width": rgb.shape[1], "height": rgb.shape[0], "pil_mode": im.mode, "has_alpha": alpha is not None}

    # ---- preprocessor configs (llava-hf/llava-1.5-7b-hf's, smaller sizes, plus variants)
    base = {
        "crop_size": {"height": 56, "width": 56},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": OPENAI_CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": OPENAI_CLIP_STD,
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": 56},
    }
    configs = {
        "clip56": base,
        # exact size, no crop, bilinear, other mean/std
        "exact_bilinear_45x60": dict(base, size={"height": 45, "width": 60}, do_center_crop=False, resample=2,
                                     image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]),
        # resized image smaller than the crop in height, larger in width: zero padding + crop
        "crop_pad_40": dict(base, size={"shortest_edge": 40}, crop_size={"height": 48, "width": 44}),
    }
    for name, cfg in configs.items():
        os.makedirs(path(f"configs/{name}"))
        with open(path(f"configs/{name}/preprocessor_config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")

    cases = [
        ("png_clip56", "scene_rgba_173x97.png", "clip56", False),  # downscale, alpha onto white
        ("jpg_clip56", "scene_211x149.jpg", "clip56", False),  # downscale
        ("small_clip56", "small_rgb_31x19.png", "clip56", False),  # upscale
        ("png_pad_clip56", "scene_rgba_173x97.png", "clip56", True),  # LLaVA pad, alpha dropped
        ("jpg_pad_clip56", "scene_211x149.jpg", "clip56", True),
        ("small_pad_clip56", "small_rgb_31x19.png", "clip56", True),
        ("jpg_exact_bilinear", "scene_211x149.jpg", "exact_bilinear_45x60", False),
        ("jpg_crop_pad", "scene_211x149.jpg", "crop_pad_40", False),
        ("la16_clip56", "la16_5x3.png", "clip56", False),  # tiny: extreme upscale, alpha
        ("palette_trns_clip56", "palette8_trns_6x3.png", "clip56", False),
    ]
    for case, image, config, pad in cases:
        hf = hf_pixel_values(path(image), path(f"configs/{config}"), pad)
        ref = reference_pixel_values(path(image), configs[config], pad)
        assert hf.shape == ref.shape and np.array_equal(hf, ref), (case, np.abs(hf - ref).max())
        with open(path(f"expected/{case}.f32"), "wb") as f:
            f.write(hf.astype("<f4").tobytes())
        manifest["preprocess"].append(
            {"case": case, "image": image, "config": config, "pad_to_square": pad, "shape": list(hf.shape)})

    # ---- Pillow's resampler alone, every convolution filter, up and down, one axis or both.
    # (200, 9) and (250, 40): the width grows while the height shrinks, the case where Pillow 13
    # runs the vertical pass first. The scene_ cases downscale ~9x (wide kernels).
    filters = {1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
    plans = [
        ("small_rgb_31x19.png", "", list(filters), [(13, 7), (31, 7), (64, 19), (47, 50), (5, 3), (1, 1), (200, 9)]),
        ("scene_211x149.jpg", "scene_", [3, 1], [(23, 16), (7, 5), (250, 40)]),
    ]
    for image, prefix, filter_ids, sizes in plans:
        src = Image.open(path(image)).convert("RGB")
        for f_id in filter_ids:
            for w, h in sizes:
                out = np.array(src.resize((w, h), resample=f_id))
                case = f"{prefix}{filters[f_id]}_{w}x{h}"
                with open(path(f"resize/{case}.u8"), "wb") as f:
                    f.write(out.tobytes())
                manifest["resize"].append({"case": case, "image": image, "filter": f_id, "width": w, "height": h})

    with open(path("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    write_readme(out_dir, manifest, cases)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(out_dir) for n in ns)
    print(f"wrote {out_dir}: {total} bytes")


def write_readme(out_dir, manifest, cases):
    v = manifest["versions"]
    lines = [
        "# Image fixtures (generated -- do not edit by hand)",
        "",
        "Written by `scripts/make_image_golden.py` (deterministic; see its docstring for the layout).",
        f"Pillow {v['Pillow']} (libjpeg-turbo {v['libjpeg_turbo']}), transformers {v['transformers']},"
        f" numpy {v['numpy']}.",
        "",
        "* `decoded/` holds what Pillow's `Image.open` gives for every image: `.rgb` =",
        "  `convert(\"RGB\")`, `.alpha` = `convert(\"RGBA\")` alpha when the image has an alpha band or",
        "  `tRNS` (what transformers' `convert_to_rgb` composites onto white).",
        "* `expected/<case>.f32` = `CLIPImageProcessorPil(...)(image)[\"pixel_values\"]`, [1, 3, H, W]",
        "  float32 LE. The pad cases follow LLaVA-1.5: `Image.open(f).convert(\"RGB\")`, then",
        "  `expand2square(img, tuple(int(x * 255) for x in image_mean))`, then the processor.",
        "  The script also checks every case bitwise against an independent numpy restatement.",
        "* `resize/[scene_]<filter>_<W>x<H>.u8` = `Image.open(image).convert(\"RGB\").resize((W, H), filter)`",
        "  of `small_rgb_31x19.png` (`scene_` cases: `scene_211x149.jpg`).",
        "",
        "| case | image | config | pad | shape |",
        "|---|---|---|---|---|",
    ]
    for entry in manifest["preprocess"]:
        lines.append(f"| {entry['case']} | {entry['image']} | {entry['config']} | {entry['pad_to_square']} |"
                     f" {entry['shape']} |")
    lines += ["", "| image | size | Pillow mode | alpha |", "|---|---|---|---|"]
    for name, info in manifest["images"].items():
        lines.append(f"| {name} | {info['width']}x{info['height']} | {info['pil_mode']} | {info['has_alpha']} |")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
