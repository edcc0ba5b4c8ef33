#ifndef ADALLAVA_CIMAGECODECS_SHIM_H
#define ADALLAVA_CIMAGECODECS_SHIM_H
// PNG (libpng 1.6) and JPEG (libjpeg / libjpeg-turbo) decoding from a memory buffer.
//
// Both libraries report fatal errors by calling an error handler that must not return; the
// defaults print to stderr and (libjpeg) call exit(). Here every error handler copies the
// message into `adallava_decoded.message` and longjmps back into the decode function that
// called setjmp, which frees what it allocated and returns 0. The jumps never leave C: Swift
// only calls `adallava_decode_png` / `adallava_decode_jpeg` and sees a return code.
//
// The decoders return the file's samples with as few conversions as possible (PNG: 1/2/4-bit
// samples unpacked to one byte each but not scaled, 16-bit samples kept big-endian, palette
// indices kept; JPEG: gray, RGB or CMYK as libjpeg outputs them with its default ISLOW IDCT
// and fancy upsampling). Turning that into RGB the way Pillow does is done in Swift.
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

#define ADALLAVA_COLOR_GRAY 0        // PNG colour types, reused for JPEG output
#define ADALLAVA_COLOR_RGB 2
#define ADALLAVA_COLOR_PALETTE 3
#define ADALLAVA_COLOR_GRAY_ALPHA 4
#define ADALLAVA_COLOR_RGB_ALPHA 6
#define ADALLAVA_COLOR_CMYK 100      // JPEG only: libjpeg's CMYK output (Adobe polarity)

/// One decoded image: `height` rows of `rowbytes` bytes in `data` (malloc'd; release with
/// `adallava_decoded_free`). On failure `data` is NULL and `message` says why.
typedef struct adallava_decoded {
    unsigned char *data;
    size_t rowbytes;
    int width;
    int height;
    /// Samples per pixel in `data` (1 gray/palette, 2 gray+alpha, 3 RGB, 4 RGBA/CMYK).
    int channels;
    /// Bits per sample in the file: 1, 2, 4, 8 or 16. Below 8, each sample occupies one byte
    /// of `data` and holds the raw (unscaled) value; at 16, two bytes, big-endian.
    int bit_depth;
    /// One of the ADALLAVA_COLOR_* values.
    int color_type;
    /// PNG palette (PLTE), `palette_count` RGB triples.
    int palette_count;
    unsigned char palette[256 * 3];
    /// PNG tRNS for palette images: alpha of the first `trans_alpha_count` entries.
    int trans_alpha_count;
    unsigned char trans_alpha[256];
    /// PNG tRNS for gray/RGB images: the transparent colour, raw sample values.
    int has_trans_color;
    unsigned int trans_gray;
    unsigned int trans_red;
    unsigned int trans_green;
    unsigned int trans_blue;
    /// Fatal error (or NUL-terminated empty string).
    char message[256];
} adallava_decoded;

static inline void adallava_decoded_free(adallava_decoded *image) {
    if (image->data) {
        free(image->data);
        image->data = NULL;
    }
}

static inline int adallava_size_ok(adallava_decoded *out, size_t width, size_t height,
                                   size_t rowbytes, size_t max_pixels) {
    if (width == 0 || height == 0) {
        snprintf(out->message, sizeof out->message, "image has zero size (%zux%zu)", width, height);
        return 0;
    }
    if (width > max_pixels / height) {
        snprintf(out->message, sizeof out->message,
                 "image is %zux%zu = %zu pixels, more than the limit of %zu", width, height,
                 width * height, max_pixels);
        return 0;
    }
    if (rowbytes == 0 || rowbytes > ((size_t)-1) / height) {
        snprintf(out->message, sizeof out->message, "image row size overflows");
        return 0;
    }
    return 1;
}

// MARK: - PNG

typedef struct adallava_png_source {
    const unsigned char *bytes;
    size_t length;
    size_t offset;
    adallava_decoded *out;
    png_bytep *rows;
} adallava_png_source;

static void adallava_png_read(png_structp png, png_bytep dest, png_size_t count) {
    adallava_png_source *src = (adallava_png_source *)png_get_io_ptr(png);
    if (count > src->length - src->offset) {
        png_error(png, "file is truncated (unexpected end of data)");
    }
    memcpy(dest, src->bytes + src->offset, count);
    src->offset += count;
}

static void adallava_png_error(png_structp png, png_const_charp message) {
    adallava_png_source *src = (adallava_png_source *)png_get_error_ptr(png);
    snprintf(src->out->message, sizeof src->out->message, "%s", message);
    png_longjmp(png, 1);
}

static void adallava_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;  // benign problems (bad ancillary chunk CRC, odd iCCP, ...) are ignored
}

/// Decodes a PNG held in memory. Returns 1 on success, 0 with `out->message` set on failure.
__attribute__((noinline)) static int adallava_decode_png(const unsigned char *bytes,
                                                         size_t length, size_t max_pixels,
                                                         adallava_decoded *out) {
    memset(out, 0, sizeof *out);
    if (length < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
        snprintf(out->message, sizeof out->message, "not a PNG file (bad signature)");
        return 0;
    }
    adallava_png_source src = {bytes, length, 0, out, NULL};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, adallava_png_error,
                                             adallava_png_warning);
    if (!png) {
        snprintf(out->message, sizeof out->message, "out of memory (png_create_read_struct)");
        return 0;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(out->message, sizeof out->message, "out of memory (png_create_info_struct)");
        return 0;
    }
    // Everything that must be freed after a longjmp lives in `src` or `out`, not in locals.
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(src.rows);
        adallava_decoded_free(out);
        return 0;
    }
    png_set_read_fn(png, &src, adallava_png_read);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (bit_depth < 8) {
        png_set_packing(png);  // one byte per sample, value unchanged
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t rowbytes = png_get_rowbytes(png, info);
    if (!adallava_size_ok(out, width, height, rowbytes, max_pixels)) {
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    out->width = (int)width;
    out->height = (int)height;
    out->channels = png_get_channels(png, info);
    out->bit_depth = bit_depth;
    out->color_type = color_type;
    out->rowbytes = rowbytes;

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette = NULL;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) & PNG_INFO_PLTE) {
            if (count > 256) count = 256;
            for (int i = 0; i < count; i++) {
                out->palette[3 * i + 0] = palette[i].red;
                out->palette[3 * i + 1] = palette[i].green;
                out->palette[3 * i + 2] = palette[i].blue;
            }
            out->palette_count = count;
        }
    }
    {
        png_bytep alpha = NULL;
        int count = 0;
        png_color_16p color = NULL;
        if (png_get_tRNS(png, info, &alpha, &count, &color) & PNG_INFO_tRNS) {
            if (color_type == PNG_COLOR_TYPE_PALETTE && alpha) {
                if (count > 256) count = 256;
                memcpy(out->trans_alpha, alpha, (size_t)count);
                out->trans_alpha_count = count;
            } else if (color) {
                out->has_trans_color = 1;
                out->trans_gray = color->gray;
                out->trans_red = color->red;
                out->trans_green = color->green;
                out->trans_blue = color->blue;
            }
        }
    }

    out->data = (unsigned char *)malloc(rowbytes * height);
    src.rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!out->data || !src.rows) {
        png_error(png, "out of memory for the decoded image");
    }
    for (png_uint_32 y = 0; y < height; y++) {
        src.rows[y] = out->data + (size_t)y * rowbytes;
    }
    png_read_image(png, src.rows);
    // Trailing chunks (and a missing IEND) are not read: the pixels are complete here.
    png_destroy_read_struct(&png, &info, NULL);
    free(src.rows);
    return 1;
}

// MARK: - JPEG

typedef struct adallava_jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    adallava_decoded *out;
} adallava_jpeg_error;

static void adallava_jpeg_error_exit(j_common_ptr cinfo) {
    adallava_jpeg_error *err = (adallava_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(err->out->message, sizeof err->out->message, "%s", buffer);
    longjmp(err->jump, 1);
}

static void adallava_jpeg_emit_message(j_common_ptr cinfo, int level) {
    // level < 0: a warning about corrupt data. libjpeg decodes on (as Pillow does), except that
    // running out of input, which libjpeg papers over with a fake EOI, is fatal here: Pillow
    // raises "image file is truncated" in that case too.
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            adallava_jpeg_error_exit(cinfo);
        }
        cinfo->err->num_warnings++;
    }
}

static void adallava_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Decodes a baseline or progressive 8-bit JPEG held in memory to gray, RGB or CMYK.
/// Returns 1 on success, 0 with `out->message` set on failure.
__attribute__((noinline)) static int adallava_decode_jpeg(const unsigned char *bytes,
                                                          size_t length, size_t max_pixels,
                                                          adallava_decoded *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    adallava_jpeg_error err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = adallava_jpeg_error_exit;
    err.pub.emit_message = adallava_jpeg_emit_message;
    err.pub.output_message = adallava_jpeg_output_message;
    err.out = out;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        adallava_decoded_free(out);
        return 0;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);

    // Output space by component count, as Pillow picks the mode (1 L, 3 RGB, 4 CMYK); the
    // input space is libjpeg's own guess (JFIF/Adobe markers), which Pillow also keeps.
    switch (cinfo.num_components) {
        case 1:
            cinfo.out_color_space = JCS_GRAYSCALE;
            out->color_type = ADALLAVA_COLOR_GRAY;
            break;
        case 3:
            cinfo.out_color_space = JCS_RGB;
            out->color_type = ADALLAVA_COLOR_RGB;
            break;
        case 4:
            cinfo.out_color_space = JCS_CMYK;
            out->color_type = ADALLAVA_COLOR_CMYK;
            break;
        default:
            snprintf(out->message, sizeof out->message,
                     "cannot handle a JPEG with %d components (expected 1, 3 or 4)",
                     cinfo.num_components);
            jpeg_destroy_decompress(&cinfo);
            return 0;
    }
    // libjpeg's defaults (JDCT_ISLOW, do_fancy_upsampling = TRUE, no scaling) are what Pillow
    // decodes with unless draft() is called; set them explicitly anyway.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;

    size_t rowbytes = (size_t)cinfo.image_width * (size_t)cinfo.num_components;
    if (!adallava_size_ok(out, cinfo.image_width, cinfo.image_height, rowbytes, max_pixels)) {
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    jpeg_start_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = cinfo.output_components;
    out->bit_depth = 8;
    out->rowbytes = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    out->data = (unsigned char *)malloc(out->rowbytes * (size_t)out->height);
    if (!out->data) {
        snprintf(out->message, sizeof out->message, "out of memory for the decoded image");
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->data + (size_t)cinfo.output_scanline * out->rowbytes;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(out->message, sizeof out->message, "decoder stopped early at row %u",
                     (unsigned)cinfo.output_scanline);
            jpeg_destroy_decompress(&cinfo);
            adallava_decoded_free(out);
            return 0;
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 1;
}

#endif
