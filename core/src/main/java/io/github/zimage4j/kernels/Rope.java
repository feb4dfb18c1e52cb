package io.github.zimage4j.kernels;

/**
 * Rotary position embeddings applied in place to rows of {@code heads × headDim}. The angle tables are
 * per row: {@code cos[r·pairs + i]}, {@code sin[r·pairs + i]} with {@code pairs = headDim/2}.
 *
 * <p>Two conventions exist and mixing them up gives plausible-looking garbage: the DiT rotates
 * interleaved pairs (x[2i], x[2i+1]) as complex numbers; Qwen3 rotates halves (x[i], x[i+d/2]).
 */
public final class Rope {

    private Rope() {
    }

    /** Pairs (x[2i], x[2i+1]) rotated by angle i: the complex form of the S3-DiT. */
    public static void interleaved(float[] x, int off, int rows, int stride, int heads, int headDim,
                                   float[] cos, float[] sin, int tableRow0) {
        int pairs = headDim / 2;
        Norms.forRows(rows, heads * headDim, r -> {
            int t = (tableRow0 + r) * pairs;
            for (int h = 0; h < heads; h++) {
                int base = off + r * stride + h * headDim;
                for (int i = 0; i < pairs; i++) {
                    float re = x[base + 2 * i];
                    float im = x[base + 2 * i + 1];
                    float c = cos[t + i];
                    float s = sin[t + i];
                    x[base + 2 * i] = re * c - im * s;
                    x[base + 2 * i + 1] = re * s + im * c;
                }
            }
        });
    }

    /** Halves (x[i], x[i+d/2]) rotated by angle i: {@code x·cos + rotate_half(x)·sin}, the Qwen/NeoX form. */
    public static void rotateHalf(float[] x, int off, int rows, int stride, int heads, int headDim,
                                  float[] cos, float[] sin, int tableRow0) {
        int half = headDim / 2;
        Norms.forRows(rows, heads * headDim, r -> {
            int t = (tableRow0 + r) * half;
            for (int h = 0; h < heads; h++) {
                int base = off + r * stride + h * headDim;
                for (int i = 0; i < half; i++) {
                    float a = x[base + i];
                    float b = x[base + half + i];
                    float c = cos[t + i];
                    float s = sin[t + i];
                    x[base + i] = a * c - b * s;
                    x[base + half + i] = b * c + a * s;
                }
            }
        });
    }
}
