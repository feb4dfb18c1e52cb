package io.github.zimage4j.dit;

/**
 * Three-axis rotary embedding (frame, height, width). Each token has an integer position per axis;
 * its rotation angles are the concatenation of the three axes' angles, 64 pairs for a 128-wide head.
 *
 * <p>Angles are computed as the reference does: frequencies {@code 1/θ^(2j/d)} and position products in
 * float64, rounded to float32, then cos/sin of that float32 angle.
 */
final class RopeEmbedder {

    private final int[] axesDims;
    private final int[] axesLens;
    private final float[][] cos;
    private final float[][] sin;
    private final int pairs;

    RopeEmbedder(double theta, int[] axesDims, int[] axesLens) {
        this.axesDims = axesDims.clone();
        this.axesLens = axesLens.clone();
        int p = 0;
        cos = new float[axesDims.length][];
        sin = new float[axesDims.length][];
        for (int a = 0; a < axesDims.length; a++) {
            int d = axesDims[a];
            int half = d / 2;
            p += half;
            cos[a] = new float[axesLens[a] * half];
            sin[a] = new float[axesLens[a] * half];
            for (int j = 0; j < half; j++) {
                double freq = 1.0 / StrictMath.pow(theta, (2.0 * j) / d);
                for (int pos = 0; pos < axesLens[a]; pos++) {
                    float angle = (float) (pos * freq);
                    cos[a][pos * half + j] = (float) StrictMath.cos(angle);
                    sin[a][pos * half + j] = (float) StrictMath.sin(angle);
                }
            }
        }
        pairs = p;
    }

    int pairs() {
        return pairs;
    }

    /** Largest position + 1 on an axis. */
    int axisLength(int axis) {
        return axesLens[axis];
    }

    /** Writes the angles of a token at (p0, p1, p2) into row {@code row} of the [rows, pairs] tables. */
    void fill(int row, int p0, int p1, int p2, float[] cosOut, float[] sinOut) {
        int o = row * pairs;
        int[] pos = {p0, p1, p2};
        for (int a = 0; a < 3; a++) {
            int half = axesDims[a] / 2;
            System.arraycopy(cos[a], pos[a] * half, cosOut, o, half);
            System.arraycopy(sin[a], pos[a] * half, sinOut, o, half);
            o += half;
        }
    }
}
