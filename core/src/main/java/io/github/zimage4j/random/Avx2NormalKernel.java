package io.github.zimage4j.random;

/**
 * torch's float32 Box–Muller for blocks of 16 ({@code normal_fill_16_AVX2}) as an x86-64 torch build with
 * AVX2 computes it, so seeded latents equal the reference's bit for bit.
 *
 * <p>That kernel does not call libm: its log, sin and cos are the Cephes-derived polynomials of
 * {@code avx_mathfun.h} (Pommier / Garberoglio), evaluated in float32. The build lets the compiler
 * contract every {@code a·b + c} of those polynomials into one fused multiply-add, so each such step is a
 * {@link Math#fma} here; where both addends are products, the first product is the fused one. Verified
 * against every float32 entry of golden/rng (30,500 values, all bitwise).
 *
 * <p>torch builds that use the scalar kernel instead (AVX-512 or ARM CPUs) differ from these values by at
 * most about one ulp (≤ 2.4e-7, golden README).
 */
final class Avx2NormalKernel {

    private static final float TWO_PI = (float) (2.0 * Math.PI);

    // log: Cephes logf polynomial and the split ln 2 = Q2 − Q1.
    private static final float SQRT_HALF = 0.707106781186547524f;
    private static final float[] LOG_POLY = {7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f,
            1.4249322787E-1f, -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f};
    private static final float LOG_Q1 = -2.12194440e-4f;
    private static final float LOG_Q2 = 0.693359375f;

    // sin/cos: Cephes sinf/cosf, with π/4 split in three for the range reduction.
    private static final float FOUR_OVER_PI = 1.27323954473516f;
    private static final float MINUS_DP1 = -0.78515625f;
    private static final float MINUS_DP2 = -2.4187564849853515625e-4f;
    private static final float MINUS_DP3 = -3.77489497744594108e-8f;
    private static final float SIN_P0 = -1.9515295891E-4f;
    private static final float SIN_P1 = 8.3321608736E-3f;
    private static final float SIN_P2 = -1.6666654611E-1f;
    private static final float COS_P0 = 2.443315711809948E-005f;
    private static final float COS_P1 = -1.388731625493765E-003f;
    private static final float COS_P2 = 4.166664568298827E-002f;

    private Avx2NormalKernel() {
    }

    /**
     * Turns the 16 uniforms at {@code data[k..k+16)} into 16 normals: pairs (j, j+8) are
     * {@code r·cos θ, r·sin θ} with {@code r = sqrt(−2·log(1 − u_j))}, {@code θ = 2π·u_{j+8}}.
     */
    static void fill16(float[] data, int k) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1f - data[k + j];
            float u2 = data[k + j + 8];
            float radius = (float) Math.sqrt(-2f * log(u1));
            float theta = TWO_PI * u2;
            float sin = sin(theta);
            float cos = cos(theta);
            // torch adds the mean (0) with a fused multiply-add, which turns −0 into +0.
            data[k + j] = radius * cos + 0f;
            data[k + j + 8] = radius * sin + 0f;
        }
    }

    /** {@code log256_ps} for one lane; {@code x} is in (0, 1] here, so no NaN or denormal handling is needed. */
    static float log(float x) {
        int bits = Float.floatToRawIntBits(x);
        float e = (float) ((bits >>> 23) - 0x7f) + 1f;
        // The mantissa as a value in [0.5, 1).
        float m = Float.intBitsToFloat((bits & ~0x7f800000) | Float.floatToRawIntBits(0.5f));
        boolean small = m < SQRT_HALF;
        float f = (m - 1f) + (small ? m : 0f);
        if (small) {
            e -= 1f;
        }
        float z = f * f;
        float y = LOG_POLY[0];
        for (int i = 1; i < LOG_POLY.length; i++) {
            y = Math.fma(y, f, LOG_POLY[i]);
        }
        y = y * f;
        y = Math.fma(y, z, e * LOG_Q1);
        y = Math.fma(-z, 0.5f, y);
        return Math.fma(e, LOG_Q2, f + y);
    }

    static float sin(float x) {
        Reduced r = reduce(x);
        float s = r.polyIsSine ? r.sine : r.cosine;
        int sign = (Float.floatToRawIntBits(x) & 0x80000000) ^ ((r.octant & 4) << 29);
        return Float.intBitsToFloat(Float.floatToRawIntBits(s) ^ sign);
    }

    static float cos(float x) {
        Reduced r = reduce(x);
        float c = r.polyIsSine ? r.cosine : r.sine;
        int sign = (~(r.octant - 2) & 4) << 29;
        return Float.intBitsToFloat(Float.floatToRawIntBits(c) ^ sign);
    }

    /**
     * Range reduction of |x| to [−π/4, π/4] and both polynomials there. {@code octant} is the even octant
     * index j; the sine polynomial gives sin when bit 1 of j is clear.
     */
    private record Reduced(int octant, boolean polyIsSine, float sine, float cosine) {
    }

    private static Reduced reduce(float x) {
        float a = Math.abs(x);
        int j = ((int) (a * FOUR_OVER_PI) + 1) & ~1;
        float y = j;
        a = Math.fma(y, MINUS_DP1, a);
        a = Math.fma(y, MINUS_DP2, a);
        a = Math.fma(y, MINUS_DP3, a);
        float z = a * a;

        float cosine = Math.fma(Math.fma(COS_P0, z, COS_P1), z, COS_P2);
        cosine = cosine * z;
        cosine = Math.fma(cosine, z, -(z * 0.5f));
        cosine = cosine + 1f;

        float sine = Math.fma(Math.fma(SIN_P0, z, SIN_P1), z, SIN_P2);
        sine = sine * z;
        sine = Math.fma(sine, a, a);
        return new Reduced(j, (j & 2) == 0, sine, cosine);
    }
}
