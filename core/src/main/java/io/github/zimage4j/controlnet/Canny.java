package io.github.zimage4j.controlnet;

import io.github.zimage4j.image.UInt8Image;

/**
 * Canny edge detection, as OpenCV's {@code cv2.Canny(gray, low, high)} computes it (the ControlNet
 * annotators' call), with an optional Gaussian blur in front:
 * <ol>
 *   <li>gray ({@link Grayscale#of}); optionally a Gaussian blur of {@code blurSigma} (0 = none, as cv2.Canny);</li>
 *   <li>3×3 Sobel gradients (borders replicated), magnitude |gx| + |gy| (OpenCV's default L1 norm);</li>
 *   <li>non-maximum suppression along the gradient direction quantised to 0°, 45°, 90°, 135°
 *       (a pixel survives when it exceeds the neighbour before it and is not below the one after it;
 *       on diagonals it must exceed both), outside the image counting as 0;</li>
 *   <li>double threshold: above {@code high} is an edge, at or below {@code low} never; pixels between
 *       are edges when 8-connected to an edge (hysteresis).</li>
 * </ol>
 * The result is a gray image, 255 on edges and 0 elsewhere.
 */
public final class Canny {

    public static final double DEFAULT_LOW = 100;
    public static final double DEFAULT_HIGH = 200;

    private final double low;
    private final double high;
    private final double blurSigma;

    /** OpenCV-like defaults: thresholds 100 / 200, no blur. */
    public Canny() {
        this(DEFAULT_LOW, DEFAULT_HIGH, 0);
    }

    public Canny(double low, double high, double blurSigma) {
        if (!(low >= 0) || !(high >= low) || Double.isInfinite(high)) {
            throw new IllegalArgumentException("Canny thresholds need 0 ≤ low ≤ high, got low " + low + ", high " + high);
        }
        if (!(blurSigma >= 0) || Double.isInfinite(blurSigma)) {
            throw new IllegalArgumentException("blur sigma must be ≥ 0 (0 = no blur), got " + blurSigma);
        }
        this.low = low;
        this.high = high;
        this.blurSigma = blurSigma;
    }

    /** The edge map of {@code image} (gray or RGB) as a gray image of the same size. */
    public UInt8Image detect(UInt8Image image) {
        UInt8Image gray = Grayscale.of(image);
        int w = gray.width();
        int h = gray.height();
        float[] src = new float[w * h];
        byte[] px = gray.pixels();
        for (int i = 0; i < src.length; i++) {
            src[i] = px[i] & 0xFF;
        }
        if (blurSigma > 0) {
            src = gaussianBlur(src, w, h, blurSigma);
        }
        float[] gx = new float[w * h];
        float[] gy = new float[w * h];
        float[] mag = new float[w * h];
        for (int y = 0; y < h; y++) {
            int ym = Math.max(y - 1, 0);
            int yp = Math.min(y + 1, h - 1);
            for (int x = 0; x < w; x++) {
                int xm = Math.max(x - 1, 0);
                int xp = Math.min(x + 1, w - 1);
                float dx = (src[ym * w + xp] - src[ym * w + xm]) + 2 * (src[y * w + xp] - src[y * w + xm])
                        + (src[yp * w + xp] - src[yp * w + xm]);
                float dy = (src[yp * w + xm] - src[ym * w + xm]) + 2 * (src[yp * w + x] - src[ym * w + x])
                        + (src[yp * w + xp] - src[ym * w + xp]);
                int i = y * w + x;
                gx[i] = dx;
                gy[i] = dy;
                mag[i] = Math.abs(dx) + Math.abs(dy);
            }
        }
        // 0 = not an edge, 1 = candidate (low < m ≤ high), 2 = edge.
        byte[] state = new byte[w * h];
        double tan22 = Math.tan(Math.toRadians(22.5));
        double tan67 = Math.tan(Math.toRadians(67.5));
        int[] stack = new int[w * h];
        int top = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                float m = mag[i];
                if (m <= low) {
                    continue;
                }
                double ax = Math.abs(gx[i]);
                double ay = Math.abs(gy[i]);
                float before;
                float after;
                boolean strictAfter = false;
                if (ay <= ax * tan22) { // horizontal gradient: compare left and right
                    before = at(mag, w, h, x - 1, y);
                    after = at(mag, w, h, x + 1, y);
                } else if (ay > ax * tan67) { // vertical gradient: compare above and below
                    before = at(mag, w, h, x, y - 1);
                    after = at(mag, w, h, x, y + 1);
                } else { // diagonal: the direction's sign picks the diagonal
                    int s = (gx[i] < 0) != (gy[i] < 0) ? -1 : 1;
                    before = at(mag, w, h, x - s, y - 1);
                    after = at(mag, w, h, x + s, y + 1);
                    strictAfter = true; // OpenCV compares both diagonal neighbours strictly
                }
                if (m > before && (strictAfter ? m > after : m >= after)) {
                    if (m > high) {
                        state[i] = 2;
                        stack[top++] = i;
                    } else {
                        state[i] = 1;
                    }
                }
            }
        }
        // Hysteresis: grow edges into 8-connected candidates.
        while (top > 0) {
            int i = stack[--top];
            int x = i % w;
            int y = i / w;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx;
                    int ny = y + dy;
                    if (nx >= 0 && ny >= 0 && nx < w && ny < h && state[ny * w + nx] == 1) {
                        state[ny * w + nx] = 2;
                        stack[top++] = ny * w + nx;
                    }
                }
            }
        }
        byte[] out = new byte[w * h];
        for (int i = 0; i < out.length; i++) {
            out[i] = state[i] == 2 ? (byte) 255 : 0;
        }
        return new UInt8Image(w, h, 1, out);
    }

    private static float at(float[] mag, int w, int h, int x, int y) {
        return x < 0 || y < 0 || x >= w || y >= h ? 0 : mag[y * w + x];
    }

    /** Separable Gaussian, radius ⌈3σ⌉, borders replicated. */
    static float[] gaussianBlur(float[] src, int w, int h, double sigma) {
        int r = (int) Math.ceil(3 * sigma);
        float[] k = new float[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) {
            k[i + r] = (float) Math.exp(-(i * i) / (2 * sigma * sigma));
            sum += k[i + r];
        }
        for (int i = 0; i < k.length; i++) {
            k[i] /= (float) sum;
        }
        float[] tmp = new float[src.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    acc += k[i + r] * src[y * w + Math.min(Math.max(x + i, 0), w - 1)];
                }
                tmp[y * w + x] = acc;
            }
        }
        float[] out = new float[src.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -r; i <= r; i++) {
                    acc += k[i + r] * tmp[Math.min(Math.max(y + i, 0), h - 1) * w + x];
                }
                out[y * w + x] = acc;
            }
        }
        return out;
    }
}
