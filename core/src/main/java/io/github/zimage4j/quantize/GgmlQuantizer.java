package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;

import io.github.zimage4j.tensor.FloatFormats;

/**
 * ggml's reference quantizers ({@code quantize_row_*_ref} in ggml-quants.c), operation for operation in
 * float32 so the bytes equal what ggml and gguf-py write. One call quantizes a whole number of blocks.
 */
public final class GgmlQuantizer {

    private static final float GROUP_MAX_EPS = 1e-15f;
    private static final int QK_K = 256;

    private GgmlQuantizer() {
    }

    /** Quantizes {@code n} values of {@code x} from {@code xOff} into {@code out} at {@code outOff}. */
    public static void quantize(DType type, float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % type.blockElements() != 0) {
            throw new IllegalArgumentException(type + ": " + n + " values is not a whole number of blocks of " + type.blockElements());
        }
        int blocks = n / type.blockElements();
        Scratch scratch = type.blockElements() == QK_K ? new Scratch() : null;
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * type.blockElements();
            int o = outOff + b * type.blockBytes();
            switch (type) {
                case F32 -> putF32(out, o, x[xi]);
                case F16 -> putShort(out, o, Float.floatToFloat16(x[xi]));
                case BF16 -> putShort(out, o, FloatFormats.floatToBf16(x[xi]));
                case Q4_0 -> q4_0(x, xi, out, o);
                case Q4_1 -> q4_1(x, xi, out, o);
                case Q5_0 -> q5_0(x, xi, out, o);
                case Q5_1 -> q5_1(x, xi, out, o);
                case Q8_0 -> q8_0(x, xi, out, o);
                case Q4_K -> qK(x, xi, out, o, 15, scratch);
                case Q5_K -> qK(x, xi, out, o, 31, scratch);
                case Q6_K -> q6_K(x, xi, out, o, scratch);
                default -> throw new IllegalArgumentException("no quantizer writes " + type);
            }
        }
    }

    private static void q4_0(float[] x, int xi, byte[] y, int o) {
        float max = signedAbsMax(x, xi);
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putShort(y, o, Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            int q0 = Math.min(15, (int) (x[xi + j] * id + 8.5f));
            int q1 = Math.min(15, (int) (x[xi + 16 + j] * id + 8.5f));
            y[o + 2 + j] = (byte) (q0 | q1 << 4);
        }
    }

    private static void q4_1(float[] x, int xi, byte[] y, int o) {
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            float v = x[xi + j];
            if (v < min) {
                min = v; // not Math.min: ggml keeps the first of 0.0 and -0.0
            }
            if (v > max) {
                max = v;
            }
        }
        float d = (max - min) / 15;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putShort(y, o, Float.floatToFloat16(d));
        putShort(y, o + 2, Float.floatToFloat16(min));
        for (int j = 0; j < 16; j++) {
            int q0 = Math.min(15, (int) ((x[xi + j] - min) * id + 0.5f));
            int q1 = Math.min(15, (int) ((x[xi + 16 + j] - min) * id + 0.5f));
            y[o + 4 + j] = (byte) (q0 | q1 << 4);
        }
    }

    private static void q5_0(float[] x, int xi, byte[] y, int o) {
        float max = signedAbsMax(x, xi);
        float d = max / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putShort(y, o, Float.floatToFloat16(d));
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = Math.min(31, (int) (x[xi + j] * id + 16.5f));
            int q1 = Math.min(31, (int) (x[xi + 16 + j] * id + 16.5f));
            y[o + 6 + j] = (byte) ((q0 & 0xF) | (q1 & 0xF) << 4);
            qh |= ((q0 & 0x10) >>> 4) << j;
            qh |= ((q1 & 0x10) >>> 4) << (j + 16);
        }
        putInt(y, o + 2, qh);
    }

    private static void q5_1(float[] x, int xi, byte[] y, int o) {
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            float v = x[xi + j];
            if (v < min) {
                min = v; // not Math.min: ggml keeps the first of 0.0 and -0.0
            }
            if (v > max) {
                max = v;
            }
        }
        float d = (max - min) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putShort(y, o, Float.floatToFloat16(d));
        putShort(y, o + 2, Float.floatToFloat16(min));
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int) ((x[xi + j] - min) * id + 0.5f) & 0xFF;
            int q1 = (int) ((x[xi + 16 + j] - min) * id + 0.5f) & 0xFF;
            y[o + 8 + j] = (byte) ((q0 & 0xF) | (q1 & 0xF) << 4);
            qh |= ((q0 & 0x10) >>> 4) << j;
            qh |= ((q1 & 0x10) >>> 4) << (j + 16);
        }
        putInt(y, o + 4, qh);
    }

    /** The value of largest magnitude in a block of 32 (the first of equals), sign kept. */
    private static float signedAbsMax(float[] x, int xi) {
        float amax = 0;
        float max = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[xi + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max;
    }

    private static void q8_0(float[] x, int xi, byte[] y, int o) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(x[xi + j]));
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        putShort(y, o, Float.floatToFloat16(d));
        for (int j = 0; j < 32; j++) {
            y[o + 2 + j] = (byte) roundf(x[xi + j] * id);
        }
    }

    /**
     * A row of {@code n} values as Q8_0 blocks that all share the row's scale ({@code max|x| / 127}, so some
     * quant of the row is ±127) instead of one scale per 32 values: int8 per output channel, in a form every
     * Q8_0 reader loads. A backend that multiplies one scale per row (int8 units) reads it without loss.
     */
    public static void q8_0RowScaled(float[] x, int xOff, int n, byte[] out, int outOff) {
        if (n % 32 != 0) {
            throw new IllegalArgumentException("Q8_0: " + n + " values is not a whole number of blocks of 32");
        }
        float amax = 0;
        for (int j = 0; j < n; j++) {
            amax = Math.max(amax, Math.abs(x[xOff + j]));
        }
        short dh = Float.floatToFloat16(amax / 127);
        // Rounded against the stored (f16) scale, unlike ggml's blocks: each value then lies within half a
        // step of the source. f16 rounding moves the scale by at most 2⁻¹¹, so the largest value still
        // rounds to ±127.
        float d = Float.float16ToFloat(dh);
        float id = d != 0 ? 1.0f / d : 0.0f;
        for (int b = 0; b < n / 32; b++) {
            int o = outOff + b * 34;
            putShort(out, o, dh);
            for (int j = 0; j < 32; j++) {
                out[o + 2 + j] = (byte) Math.max(-127, Math.min(127, roundf(x[xOff + b * 32 + j] * id)));
            }
        }
    }

    /** Q4_K ({@code nmax} 15) and Q5_K ({@code nmax} 31): 8 sub-blocks of 32 with 6-bit scales and mins. */
    private static void qK(float[] x, int xi, byte[] y, int o, int nmax, Scratch scratch) {
        boolean five = nmax == 31;
        int[] L = scratch.levels;
        int[] laux = scratch.levelsAux;
        float[] weights = scratch.weights;
        float[] mins = scratch.mins;
        float[] scales = scratch.scales;
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) {
                sumX2 += x[xi + 32 * j + l] * x[xi + 32 * j + l];
            }
            float avX = sqrtf(sumX2 / 32);
            for (int l = 0; l < 32; l++) {
                weights[l] = avX + Math.abs(x[xi + 32 * j + l]);
            }
            scales[j] = five
                    ? makeQkx2Quants(32, 31, x, xi + 32 * j, weights, L, 32 * j, mins, j, laux, -0.5f, 0.1f, 15)
                    : makeQkx2Quants(32, 15, x, xi + 32 * j, weights, L, 32 * j, mins, j, laux, -1.f, 0.1f, 20);
            if (scales[j] > maxScale) {
                maxScale = scales[j];
            }
            if (mins[j] > maxMin) {
                maxMin = mins[j];
            }
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        int s = o + 4; // scales[12]
        for (int j = 0; j < 12; j++) {
            y[s + j] = 0;
        }
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                y[s + j] = (byte) ls;
                y[s + j + 4] = (byte) lm;
            } else {
                y[s + j + 4] = (byte) ((ls & 0xF) | (lm & 0xF) << 4);
                y[s + j - 4] |= (byte) ((ls >> 4) << 6);
                y[s + j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short dBits = Float.floatToFloat16(maxScale / 63.f);
        short dminBits = Float.floatToFloat16(maxMin / 63.f);
        putShort(y, o, dBits);
        putShort(y, o + 2, dminBits);
        float dAll = Float.float16ToFloat(dBits);
        float dminAll = Float.float16ToFloat(dminBits);
        for (int j = 0; j < 8; j++) {
            int sc;
            int m;
            if (j < 4) {
                sc = y[s + j] & 63;
                m = y[s + j + 4] & 63;
            } else {
                sc = (y[s + j + 4] & 0xF) | ((y[s + j - 4] & 0xFF) >> 6) << 4;
                m = (y[s + j + 4] & 0xFF) >> 4 | ((y[s + j] & 0xFF) >> 6) << 4;
            }
            float d = dAll * sc;
            if (d == 0) {
                continue;
            }
            float dm = dminAll * m;
            for (int ii = 0; ii < 32; ii++) {
                int l = nearestInt((x[xi + 32 * j + ii] + dm) / d);
                L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
            }
        }
        if (!five) {
            int q = o + 16;
            for (int j = 0; j < QK_K; j += 64) {
                for (int l = 0; l < 32; l++) {
                    y[q + l] = (byte) (L[j + l] | L[j + l + 32] << 4);
                }
                q += 32;
            }
            return;
        }
        int qh = o + 16;
        int ql = o + 48;
        for (int j = 0; j < 32; j++) {
            y[qh + j] = 0;
        }
        int m1 = 1;
        int m2 = 2;
        for (int n = 0; n < QK_K; n += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    y[qh + j] |= (byte) m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    y[qh + j] |= (byte) m2;
                }
                y[ql + j] = (byte) (l1 | l2 << 4);
            }
            m1 <<= 2;
            m2 <<= 2;
            ql += 32;
        }
    }

    private static float makeQkx2Quants(int n, int nmax, float[] x, int xi, float[] weights, int[] L, int li,
                                        float[] theMin, int minIndex, int[] laux, float rmin, float rdelta, int nstep) {
        float min = x[xi];
        float max = x[xi];
        float sumW = weights[0];
        float sumX = sumW * x[xi];
        for (int i = 1; i < n; i++) {
            if (x[xi + i] < min) {
                min = x[xi + i];
            }
            if (x[xi + i] > max) {
                max = x[xi + i];
            }
            float w = weights[i];
            sumW += w;
            sumX += w * x[xi + i];
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                L[li + i] = 0;
            }
            theMin[minIndex] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[xi + i] - min));
            L[li + i] = Math.max(0, Math.min(nmax, l));
            float diff = scale * L[li + i] + min - x[xi + i];
            diff = diff * diff;
            bestError += weights[i] * diff;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0;
            float sumL2 = 0;
            float sumXl = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[xi + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[xi + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[xi + i];
                    diff = diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError) {
                    for (int i = 0; i < n; i++) {
                        L[li + i] = laux[i];
                    }
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[minIndex] = -min;
        return scale;
    }

    private static void q6_K(float[] x, int xi, byte[] y, int o, Scratch scratch) {
        int[] L = scratch.levels;
        float[] scales = scratch.scales;
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = makeQxQuants(16, 32, x, xi + 16 * ib, L, 16 * ib);
            scales[ib] = scale;
            float abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        int ql = o;
        int qh = o + 128;
        int sc = o + 192;
        int dOff = o + 208;
        if (maxAbsScale < GROUP_MAX_EPS) {
            for (int i = 0; i < 210; i++) {
                y[o + i] = 0;
            }
            putShort(y, dOff, Float.floatToFloat16(0.f));
            return;
        }
        float iscale = -128.f / maxScale;
        short dBits = Float.floatToFloat16(1 / iscale);
        putShort(y, dOff, dBits);
        for (int ib = 0; ib < 16; ib++) {
            y[sc + ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
        }
        float dAll = Float.float16ToFloat(dBits);
        for (int j = 0; j < 16; j++) {
            float d = dAll * y[sc + j];
            if (d == 0) {
                continue;
            }
            for (int ii = 0; ii < 16; ii++) {
                int l = nearestInt(x[xi + 16 * j + ii] / d);
                l = Math.max(-32, Math.min(31, l));
                L[16 * j + ii] = l + 32;
            }
        }
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                int q1 = L[j + l] & 0xF;
                int q2 = L[j + l + 32] & 0xF;
                int q3 = L[j + l + 64] & 0xF;
                int q4 = L[j + l + 96] & 0xF;
                y[ql + l] = (byte) (q1 | q3 << 4);
                y[ql + l + 32] = (byte) (q2 | q4 << 4);
                y[qh + l] = (byte) ((L[j + l] >> 4) | (L[j + l + 32] >> 4) << 2 | (L[j + l + 64] >> 4) << 4 | (L[j + l + 96] >> 4) << 6);
            }
            ql += 64;
            qh += 32;
        }
    }

    /** {@code make_qx_quants} with {@code rmse_type} 1 (weights x²) and no importance weights, as Q6_K uses it. */
    private static float makeQxQuants(int n, int nmax, float[] x, int xi, int[] L, int li) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xi + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xi + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) {
                L[li + i] = 0;
            }
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * x[xi + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[li + i] = l + nmax;
            float w = x[xi + i] * x[xi + i];
            sumlx += w * x[xi + i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * x[xi + i]);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = x[xi + i] * x[xi + i];
                sumlx += w * x[xi + i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xi + i]);
                    L[li + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** Work arrays of the K-quants, reused across the blocks of one call. */
    private static final class Scratch {
        final int[] levels = new int[QK_K];
        final int[] levelsAux = new int[32];
        final float[] weights = new float[32];
        final float[] mins = new float[8];
        final float[] scales = new float[16];
    }

    /** ggml's {@code nearest_int}: round half to even through the float mantissa (|v| ≤ 4194303). */
    static int nearestInt(float v) {
        float val = v + 12582912.f;
        return (Float.floatToRawIntBits(val) & 0x007fffff) - 0x00400000;
    }

    /** C's roundf: half away from zero. */
    static float roundf(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (float) (v < 0 ? -a : a);
    }

    private static float sqrtf(float v) {
        return (float) Math.sqrt(v);
    }

    private static void putShort(byte[] b, int o, short v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
    }

    private static void putInt(byte[] b, int o, int v) {
        b[o] = (byte) v;
        b[o + 1] = (byte) (v >> 8);
        b[o + 2] = (byte) (v >> 16);
        b[o + 3] = (byte) (v >> 24);
    }

    private static void putF32(byte[] b, int o, float v) {
        putInt(b, o, Float.floatToRawIntBits(v));
    }
}
