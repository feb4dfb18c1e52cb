package io.github.zimage4j.image;

/**
 * An 8-bit image: {@code height × width} pixels, row-major, channels interleaved (RGB or a single gray
 * channel), the {@code [H, W, C]} uint8 layout PIL and numpy use.
 */
public final class UInt8Image {

    private final int width;
    private final int height;
    private final int channels;
    private final byte[] pixels;

    /** Wraps {@code pixels} (not copied). */
    public UInt8Image(int width, int height, int channels, byte[] pixels) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " must be positive");
        }
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("an image has 1 (gray) or 3 (RGB) channels, not " + channels);
        }
        long n = (long) width * height * channels;
        if (pixels.length != n) {
            throw new IllegalArgumentException(width + "x" + height + "x" + channels + " needs " + n
                    + " bytes, got " + pixels.length);
        }
        this.width = width;
        this.height = height;
        this.channels = channels;
        this.pixels = pixels;
    }

    /** A black image; fails clearly when the size cannot be held in one array. */
    public static UInt8Image blank(int width, int height, int channels) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " must be positive");
        }
        long n = (long) width * height * channels;
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " is too large (" + n + " bytes)");
        }
        return new UInt8Image(width, height, channels, new byte[(int) n]);
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public int channels() {
        return channels;
    }

    /** The backing array, {@code [H, W, C]} (not a copy). */
    public byte[] pixels() {
        return pixels;
    }

    /** Channel {@code c} of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return pixels[(y * width + x) * channels + c] & 0xFF;
    }

    @Override
    public String toString() {
        return "UInt8Image[" + width + "x" + height + (channels == 1 ? " gray]" : " RGB]");
    }
}
