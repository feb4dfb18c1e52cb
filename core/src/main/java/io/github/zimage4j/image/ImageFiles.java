package io.github.zimage4j.image;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Reads PNG and JPEG files (through {@code javax.imageio}) the way PIL hands them to diffusers: 8-bit
 * samples as stored, RGB or gray, with no color management and no EXIF rotation.
 *
 * <ul>
 *   <li>RGB: alpha is dropped, gray is replicated, palettes are looked up ({@code convert("RGB")}).</li>
 *   <li>Gray: RGB becomes {@code (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16} ({@code convert("L")}).</li>
 *   <li>16-bit samples keep their high byte.</li>
 *   <li>A target size resizes with {@link LanczosResize} (diffusers' default filter) when it differs.</li>
 * </ul>
 * JPEG decoding is Java's own, so JPEG pixels may differ from libjpeg's by a level or two; PNG is exact.
 */
public final class ImageFiles {

    /** Pillow's decompression-bomb limit (2 × {@code Image.MAX_IMAGE_PIXELS}). */
    private static final long MAX_PIXELS = 2L * 89_478_485;

    private ImageFiles() {
    }

    /** The image at {@code file} as RGB, at its own size. */
    public static UInt8Image readRgb(Path file) throws IOException {
        return toRgb(decode(file));
    }

    /** The image at {@code file} as RGB, resized to {@code width × height} unless it already has that size. */
    public static UInt8Image readRgb(Path file, int width, int height) throws IOException {
        checkTarget(width, height);
        return LanczosResize.resize(readRgb(file), width, height);
    }

    /** The image at {@code file} as one gray channel (masks), at its own size. */
    public static UInt8Image readGray(Path file) throws IOException {
        return toGray(decode(file));
    }

    /**
     * The image at {@code file} as gray, resized to {@code width × height} in gray, as diffusers' mask
     * processor resizes the {@code "L"} image.
     */
    public static UInt8Image readGray(Path file, int width, int height) throws IOException {
        checkTarget(width, height);
        return LanczosResize.resize(readGray(file), width, height);
    }

    /**
     * Checks a generation size: positive and, when {@code multiple > 1}, a multiple of it (16 for Z-Image:
     * the VAE downsamples 8× and the transformer patches 2×2).
     */
    public static void requireSize(int width, int height, int multiple) {
        checkTarget(width, height);
        if (multiple > 1 && (width % multiple != 0 || height % multiple != 0)) {
            throw new IllegalArgumentException("size " + width + "x" + height + " must be a multiple of " + multiple
                    + " in both directions; the nearest below is " + (width / multiple * multiple) + "x"
                    + (height / multiple * multiple));
        }
    }

    private static void checkTarget(int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " must be positive");
        }
    }

    /** Encoded image bytes (PNG or JPEG, e.g. from a request body) as RGB; {@code name} names them in errors. */
    public static UInt8Image readRgb(byte[] data, String name) throws IOException {
        return toRgb(decode(data, name));
    }

    /** Encoded image bytes (PNG or JPEG) as one gray channel; {@code name} names them in errors. */
    public static UInt8Image readGray(byte[] data, String name) throws IOException {
        return toGray(decode(data, name));
    }

    private static BufferedImage decode(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, Files.exists(file) ? "not a regular file" : "no such image file");
        }
        byte[] head = new byte[12];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        }
        String format = sniff(head, n, file.toString());
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            return decode(in, format, file.toString());
        }
    }

    private static BufferedImage decode(byte[] data, String name) throws IOException {
        String format = sniff(data, data.length, name);
        try (ImageInputStream in = ImageIO.createImageInputStream(new java.io.ByteArrayInputStream(data))) {
            return decode(in, format, name);
        }
    }

    private static BufferedImage decode(ImageInputStream in, String format, String name) throws IOException {
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format);
        if (!readers.hasNext()) {
            throw new IOException(name + ": no " + format + " decoder in this Java runtime");
        }
        ImageReader reader = readers.next();
        try {
            reader.setInput(in, true, true);
            long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
            if (pixels > MAX_PIXELS) {
                throw new IOException(name + ": " + reader.getWidth(0) + "x" + reader.getHeight(0)
                        + " is too large to load (over " + MAX_PIXELS + " pixels)");
            }
            return reader.read(0);
        } catch (IIOException | RuntimeException e) {
            throw new IOException(name + ": cannot decode this " + format + " file (" + e.getMessage() + ")", e);
        } finally {
            reader.dispose();
        }
    }

    /** The format from the first bytes; anything but PNG and JPEG is refused by name. */
    private static String sniff(byte[] head, int n, String name) throws IOException {
        if (n >= 8 && (head[0] & 0xFF) == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
            return "png";
        }
        if (n >= 3 && (head[0] & 0xFF) == 0xFF && (head[1] & 0xFF) == 0xD8 && (head[2] & 0xFF) == 0xFF) {
            return "jpeg";
        }
        String what = n == 0 ? "an empty file"
                : n >= 12 && head[0] == 'R' && head[1] == 'I' && head[2] == 'F' && head[3] == 'F'
                && head[8] == 'W' && head[9] == 'E' && head[10] == 'B' && head[11] == 'P' ? "a WebP image"
                : n >= 4 && head[0] == 'G' && head[1] == 'I' && head[2] == 'F' ? "a GIF image"
                : n >= 2 && head[0] == 'B' && head[1] == 'M' ? "a BMP image"
                : n >= 4 && ((head[0] == 'I' && head[1] == 'I') || (head[0] == 'M' && head[1] == 'M')) ? "a TIFF image"
                : "not a recognized image";
        throw new IOException(name + ": " + what + "; zimage4j reads PNG and JPEG files");
    }

    private static UInt8Image toRgb(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        Raster r = img.getRaster();
        if (img.getColorModel() instanceof ComponentColorModel cm) {
            int colors = cm.getNumColorComponents();
            int shift = sampleShift(r);
            int[] row = new int[w * r.getNumBands()];
            for (int y = 0; y < h; y++) {
                r.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    for (int c = 0; c < 3; c++) {
                        int band = colors == 1 ? 0 : c;
                        out[(y * w + x) * 3 + c] = (byte) (row[x * r.getNumBands() + band] >> shift);
                    }
                }
            }
        } else {
            // Palettes and packed pixels: the color model gives the stored RGB, without color conversion.
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int argb = img.getRGB(x, y);
                    int o = (y * w + x) * 3;
                    out[o] = (byte) (argb >> 16);
                    out[o + 1] = (byte) (argb >> 8);
                    out[o + 2] = (byte) argb;
                }
            }
        }
        return new UInt8Image(w, h, 3, out);
    }

    private static UInt8Image toGray(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        if (img.getColorModel() instanceof ComponentColorModel cm && cm.getNumColorComponents() == 1) {
            // Read the stored samples: BufferedImage.getRGB would gamma-convert linear gray.
            Raster r = img.getRaster();
            int shift = sampleShift(r);
            byte[] out = new byte[w * h];
            int[] row = new int[w * r.getNumBands()];
            for (int y = 0; y < h; y++) {
                r.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    out[y * w + x] = (byte) (row[x * r.getNumBands()] >> shift);
                }
            }
            return new UInt8Image(w, h, 1, out);
        }
        UInt8Image rgb = toRgb(img);
        byte[] px = rgb.pixels();
        byte[] out = new byte[w * h];
        for (int i = 0; i < out.length; i++) {
            int luma = (px[i * 3] & 0xFF) * 19595 + (px[i * 3 + 1] & 0xFF) * 38470 + (px[i * 3 + 2] & 0xFF) * 7471 + 0x8000;
            out[i] = (byte) (luma >>> 16);
        }
        return new UInt8Image(w, h, 1, out);
    }

    /** 8 for 16-bit samples (keep the high byte), 0 for 8-bit. */
    private static int sampleShift(Raster r) {
        return r.getTransferType() == DataBuffer.TYPE_USHORT ? 8 : 0;
    }
}
