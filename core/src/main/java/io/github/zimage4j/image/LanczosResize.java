package io.github.zimage4j.image;

/**
 * Image resizing with a Lanczos-3 filter, computed as Pillow's {@code Image.resize(size, LANCZOS)} computes
 * it for 8-bit images, which is what diffusers' image processors call (their default {@code resample}).
 *
 * <p>The resize is separable: a horizontal pass, then a vertical one, each output pixel a weighted sum of
 * the input pixels within 3 output-pixel widths (wider when shrinking, so the filter also low-passes).
 * Weights are normalized to sum 1, converted to 22-bit fixed point, and each pass rounds and clamps to
 * 0..255, exactly as Pillow does; the intermediate image is 8-bit too.
 */
public final class LanczosResize {

    private static final double SUPPORT = 3.0;
    /** Fixed-point fraction bits of the weights (32 − 8 − 2: 8 bits of pixel, 2 of headroom). */
    private static final int PRECISION_BITS = 22;

    private LanczosResize() {
    }

    /** {@code image} resized to {@code width × height}; the same size gives a copy. */
    public static UInt8Image resize(UInt8Image image, int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("target size " + width + "x" + height + " must be positive");
        }
        if (width == image.width() && height == image.height()) {
            return new UInt8Image(width, height, image.channels(), image.pixels().clone());
        }
        Weights horizontal = Weights.of(image.width(), width);
        Weights vertical = Weights.of(image.height(), height);
        UInt8Image src = image;
        if (width != image.width()) {
            // Only the rows the vertical pass will read.
            int firstRow = vertical.first[0];
            int lastRow = vertical.first[height - 1] + vertical.count[height - 1];
            src = horizontalPass(image, horizontal, firstRow, lastRow - firstRow);
            vertical = vertical.shifted(-firstRow);
        }
        if (height != image.height()) {
            src = verticalPass(src, vertical);
        }
        return src;
    }

    private static UInt8Image horizontalPass(UInt8Image in, Weights wt, int firstRow, int rows) {
        int ch = in.channels();
        int outW = wt.first.length;
        byte[] src = in.pixels();
        byte[] dst = new byte[outW * rows * ch];
        for (int y = 0; y < rows; y++) {
            int rowStart = (y + firstRow) * in.width();
            for (int x = 0; x < outW; x++) {
                for (int c = 0; c < ch; c++) {
                    int acc = 1 << (PRECISION_BITS - 1);
                    for (int k = 0; k < wt.count[x]; k++) {
                        acc += (src[(rowStart + wt.first[x] + k) * ch + c] & 0xFF) * wt.fixed[x][k];
                    }
                    dst[(y * outW + x) * ch + c] = clip8(acc);
                }
            }
        }
        return new UInt8Image(outW, rows, ch, dst);
    }

    private static UInt8Image verticalPass(UInt8Image in, Weights wt) {
        int ch = in.channels();
        int w = in.width();
        int outH = wt.first.length;
        byte[] src = in.pixels();
        byte[] dst = new byte[w * outH * ch];
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < ch; c++) {
                    int acc = 1 << (PRECISION_BITS - 1);
                    for (int k = 0; k < wt.count[y]; k++) {
                        acc += (src[((wt.first[y] + k) * w + x) * ch + c] & 0xFF) * wt.fixed[y][k];
                    }
                    dst[(y * w + x) * ch + c] = clip8(acc);
                }
            }
        }
        return new UInt8Image(w, outH, ch, dst);
    }

    private static byte clip8(int acc) {
        return (byte) Math.min(Math.max(acc >> PRECISION_BITS, 0), 255);
    }

    /**
     * Per output position: the first input index, how many inputs it reads, and their fixed-point weights.
     */
    private record Weights(int[] first, int[] count, int[][] fixed) {

        static Weights of(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            int[] first = new int[outSize];
            int[] count = new int[outSize];
            int[][] fixed = new int[outSize][];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double invScale = 1.0 / filterScale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double[] k = new double[xmax];
                double sum = 0.0;
                for (int x = 0; x < xmax; x++) {
                    k[x] = lanczos((x + xmin - center + 0.5) * invScale);
                    sum += k[x];
                }
                int[] f = new int[xmax];
                for (int x = 0; x < xmax; x++) {
                    double v = sum != 0.0 ? k[x] / sum : k[x];
                    f[x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                first[xx] = xmin;
                count[xx] = xmax;
                fixed[xx] = f;
            }
            return new Weights(first, count, fixed);
        }

        Weights shifted(int by) {
            int[] f = first.clone();
            for (int i = 0; i < f.length; i++) {
                f[i] += by;
            }
            return new Weights(f, count, fixed);
        }

        /** The truncated sinc: sinc(x)·sinc(x/3) on [−3, 3). */
        private static double lanczos(double x) {
            if (-SUPPORT <= x && x < SUPPORT) {
                return sinc(x) * sinc(x / SUPPORT);
            }
            return 0.0;
        }

        private static double sinc(double x) {
            if (x == 0.0) {
                return 1.0;
            }
            x = x * Math.PI;
            return StrictMath.sin(x) / x;
        }
    }
}
