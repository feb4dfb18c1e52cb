package io.github.zimage4j.controlnet;

import io.github.zimage4j.image.UInt8Image;

/** Gray conversions as PIL does them, for control images. */
public final class Grayscale {

    private Grayscale() {
    }

    /** RGB → one channel, PIL's {@code convert("L")}: {@code (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16}; gray stays. */
    public static UInt8Image of(UInt8Image image) {
        if (image.channels() == 1) {
            return image;
        }
        if (image.channels() != 3) {
            throw new IllegalArgumentException("expected a gray or RGB image, got " + image);
        }
        byte[] px = image.pixels();
        int n = image.width() * image.height();
        byte[] out = new byte[n];
        for (int p = 0; p < n; p++) {
            int r = px[3 * p] & 0xFF;
            int g = px[3 * p + 1] & 0xFF;
            int b = px[3 * p + 2] & 0xFF;
            out[p] = (byte) ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
        }
        return new UInt8Image(image.width(), image.height(), 1, out);
    }

    /** One channel → three equal channels (what the VAE takes). */
    public static UInt8Image toRgb(UInt8Image gray) {
        if (gray.channels() == 3) {
            return gray;
        }
        byte[] px = gray.pixels();
        byte[] out = new byte[px.length * 3];
        for (int p = 0; p < px.length; p++) {
            out[3 * p] = px[p];
            out[3 * p + 1] = px[p];
            out[3 * p + 2] = px[p];
        }
        return new UInt8Image(gray.width(), gray.height(), 3, out);
    }
}
