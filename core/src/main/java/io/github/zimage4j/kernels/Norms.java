package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise normalizations in float32, fused with the scaling and gated residuals the models apply
 * around them, so activations are touched once per stage. All take rows of {@code dim} contiguous
 * floats; parallel over rows.
 */
public final class Norms {

    private Norms() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Below this many elements a parallel split costs more than it saves. */
    private static final int PARALLEL_MIN = 1 << 15;

    static void forRows(int rows, int dim, RowBody body) {
        if ((long) rows * dim < PARALLEL_MIN || rows == 1) {
            for (int r = 0; r < rows; r++) {
                body.row(r);
            }
            return;
        }
        int threads = Parallel.get().threads();
        int chunk = Math.max(1, rows / (threads * 8));
        int tasks = (rows + chunk - 1) / chunk;
        Parallel.get().forEach(tasks, t -> {
            int end = Math.min(rows, (t + 1) * chunk);
            for (int r = t * chunk; r < end; r++) {
                body.row(r);
            }
        });
    }

    @FunctionalInterface
    interface RowBody {
        void row(int r);
    }

    static float sumOfSquares(float[] x, int off, int dim) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i + VL <= dim; i += VL) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            acc = v.fma(v, acc);
        }
        float s = Lanes.sum(acc);
        for (; i < dim; i++) {
            s += x[off + i] * x[off + i];
        }
        return s;
    }

    /** 1/sqrt(mean(x²) + eps) of one row, as torch's RMSNorm computes it in float32. */
    static float rmsInverse(float[] x, int off, int dim, float eps) {
        return (float) (1.0 / Math.sqrt(sumOfSquares(x, off, dim) / dim + eps));
    }

    /**
     * {@code out = x / rms(x) · weight · rowScale}, row by row. {@code rowScale} (length dim, may be null)
     * is the modulation factor {@code 1 + scale} shared by all rows. In place is allowed.
     */
    public static void rmsNorm(float[] x, int xOff, int rows, int dim, float[] weight, float eps,
                               float[] rowScale, float[] out, int outOff) {
        forRows(rows, dim, r -> {
            int xi = xOff + r * dim;
            int oi = outOff + r * dim;
            float inv = rmsInverse(x, xi, dim, eps);
            FloatVector iv = FloatVector.broadcast(S, inv);
            int i = 0;
            for (; i + VL <= dim; i += VL) {
                FloatVector v = FloatVector.fromArray(S, x, xi + i).mul(iv).mul(FloatVector.fromArray(S, weight, i));
                if (rowScale != null) {
                    v = v.mul(FloatVector.fromArray(S, rowScale, i));
                }
                v.intoArray(out, oi + i);
            }
            for (; i < dim; i++) {
                float v = x[xi + i] * inv * weight[i];
                out[oi + i] = rowScale != null ? v * rowScale[i] : v;
            }
        });
    }

    /**
     * The sandwich-norm residual: {@code x += gate · (y / rms(y) · weight)} row by row; {@code gate}
     * (length dim) may be null for an ungated residual.
     */
    public static void addRmsNormed(float[] x, int xOff, float[] y, int yOff, int rows, int dim, float[] weight,
                                    float eps, float[] gate) {
        forRows(rows, dim, r -> {
            int xi = xOff + r * dim;
            int yi = yOff + r * dim;
            float inv = rmsInverse(y, yi, dim, eps);
            FloatVector iv = FloatVector.broadcast(S, inv);
            int i = 0;
            for (; i + VL <= dim; i += VL) {
                FloatVector v = FloatVector.fromArray(S, y, yi + i).mul(iv).mul(FloatVector.fromArray(S, weight, i));
                if (gate != null) {
                    v = v.mul(FloatVector.fromArray(S, gate, i));
                }
                FloatVector.fromArray(S, x, xi + i).add(v).intoArray(x, xi + i);
            }
            for (; i < dim; i++) {
                float v = y[yi + i] * inv * weight[i];
                x[xi + i] += gate != null ? v * gate[i] : v;
            }
        });
    }

    /**
     * LayerNorm without affine parameters, times a per-column factor: {@code out = (x − mean)/sqrt(var + eps)
     * · rowScale} (rowScale may be null). Mean and variance in float32, two passes, as torch does.
     */
    public static void layerNorm(float[] x, int xOff, int rows, int dim, float eps, float[] rowScale,
                                 float[] out, int outOff) {
        forRows(rows, dim, r -> {
            int xi = xOff + r * dim;
            int oi = outOff + r * dim;
            FloatVector acc = FloatVector.zero(S);
            int i = 0;
            for (; i + VL <= dim; i += VL) {
                acc = acc.add(FloatVector.fromArray(S, x, xi + i));
            }
            float sum = Lanes.sum(acc);
            for (; i < dim; i++) {
                sum += x[xi + i];
            }
            float mean = sum / dim;
            FloatVector mv = FloatVector.broadcast(S, mean);
            acc = FloatVector.zero(S);
            i = 0;
            for (; i + VL <= dim; i += VL) {
                FloatVector d = FloatVector.fromArray(S, x, xi + i).sub(mv);
                acc = d.fma(d, acc);
            }
            float sq = Lanes.sum(acc);
            for (; i < dim; i++) {
                float d = x[xi + i] - mean;
                sq += d * d;
            }
            float inv = (float) (1.0 / Math.sqrt(sq / dim + eps));
            FloatVector iv = FloatVector.broadcast(S, inv);
            i = 0;
            for (; i + VL <= dim; i += VL) {
                FloatVector v = FloatVector.fromArray(S, x, xi + i).sub(mv).mul(iv);
                if (rowScale != null) {
                    v = v.mul(FloatVector.fromArray(S, rowScale, i));
                }
                v.intoArray(out, oi + i);
            }
            for (; i < dim; i++) {
                float v = (x[xi + i] - mean) * inv;
                out[oi + i] = rowScale != null ? v * rowScale[i] : v;
            }
        });
    }
}
