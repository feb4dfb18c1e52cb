package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code exp} in float32 built from additions and multiplications only, identical for a vector lane and
 * for the scalar form.
 *
 * <p>Why not {@code lanewise(EXP)} or {@code Math.exp}: the Vector API computes EXP with a native math
 * library once the JIT has compiled the caller and with Java code before that, and the two differ in the
 * last bit. A result then depended on when the JIT kicked in (a single-threaded run gave different images
 * run to run), and on whether an element fell into a vector body or a scalar tail. Here every value goes
 * through the same IEEE operations, so the same input gives the same bits in every run and position.
 *
 * <p>Method (Cephes {@code expf}): {@code x = n·ln2 + r} with |r| ≤ ln2/2, {@code exp(r)} by a degree-6
 * polynomial, times 2ⁿ from the exponent bits. About 1 ulp on the normal range; arguments below
 * ln(smallest normal float) give 0, above ln(largest float) +∞; NaN stays NaN.
 */
public final class Exp {

    private Exp() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 · 2²³: adding and subtracting it rounds a float of magnitude below 2²² to the nearest integer. */
    private static final float ROUNDER = 12582912f;
    private static final float MAX_ARG = 88.7228391f;  // ln(Float.MAX_VALUE)
    private static final float MIN_ARG = -87.3365448f; // ln(Float.MIN_NORMAL)
    private static final float P0 = 1.9875691500E-4f;
    private static final float P1 = 1.3981999507E-3f;
    private static final float P2 = 8.3334519073E-3f;
    private static final float P3 = 4.1665795894E-2f;
    private static final float P4 = 1.6666665459E-1f;
    private static final float P5 = 5.0000001201E-1f;

    /** {@code e^x} lane by lane. */
    public static FloatVector exp(FloatVector x) {
        VectorMask<Float> nan = x.test(VectorOperators.IS_NAN);
        FloatVector xc = x.blend(0f, nan).max(MIN_ARG).min(MAX_ARG);
        FloatVector n = xc.mul(LOG2E).add(ROUNDER).sub(ROUNDER);
        FloatVector r = xc.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.mul(P0).add(P1).mul(r).add(P2).mul(r).add(P3).mul(r).add(P4).mul(r).add(P5);
        FloatVector e = p.mul(r.mul(r)).add(r).add(1f);
        // 2ⁿ as 2ᵃ·2ᵇ (a = ⌊n/2⌋, b = n − a): n runs from −126 to 128, beyond one float exponent field.
        IntVector ni = (IntVector) n.convertShape(VectorOperators.F2I, I, 0);
        IntVector a = ni.lanewise(VectorOperators.ASHR, 1);
        IntVector b = ni.sub(a);
        FloatVector result = e.mul(a.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())
                .mul(b.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
        return result.blend(0f, x.lt(MIN_ARG)).blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, MAX_ARG)).blend(x, nan);
    }

    /** {@code e^x}, bit for bit what {@link #exp(FloatVector)} gives in a lane. */
    public static float exp(float x) {
        if (Float.isNaN(x)) {
            return x;
        }
        if (x < MIN_ARG) {
            return 0f;
        }
        if (x > MAX_ARG) {
            return Float.POSITIVE_INFINITY;
        }
        float n = (x * LOG2E + ROUNDER) - ROUNDER;
        float r = (x - n * LN2_HI) - n * LN2_LO;
        float p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5;
        float e = (p * (r * r) + r) + 1f;
        int a = (int) n >> 1;
        int b = (int) n - a;
        return e * Float.intBitsToFloat((a + 127) << 23) * Float.intBitsToFloat((b + 127) << 23);
    }

    // 2^f on [−1/2, 1/2]: a relative-error minimax fit of degree 6 with the constant term 1 (under 1 ulp).
    private static final float Q1 = 0.6931471824645996f;
    private static final float Q2 = 0.24022647738456726f;
    private static final float Q3 = 0.055503323674201965f;
    private static final float Q4 = 0.00961843691766262f;
    private static final float Q5 = 0.0013398875016719103f;
    private static final float Q6 = 0.00015353360504377633f;
    /** Below this, {@link #exp2} gives 0: its exponent trick has no subnormal results. */
    private static final float EXP2_MIN_ARG = -125f;

    /**
     * {@code 2^x} for x up to 127, the softmax kernel's exponential (scores times scale·log2(e), minus
     * their maximum, are ≤ 0): cheaper than {@link #exp} because it needs no range reduction by ln 2 and no
     * clamping. {@code x = n + f} with n = round(x) and |f| ≤ 1/2, {@code 2^f} by a degree-6 polynomial
     * (fused multiply-adds), times {@code 2ⁿ} by adding n to the exponent bits. About 1 ulp; arguments
     * below −125 (and −∞) give 0, NaN stays NaN; above 127 the result is undefined.
     */
    public static FloatVector exp2(FloatVector x) {
        FloatVector t = x.add(ROUNDER);
        FloatVector f = x.sub(t.sub(ROUNDER));
        FloatVector p = f.fma(Q6, Q5).fma(f, FloatVector.broadcast(S, Q4)).fma(f, FloatVector.broadcast(S, Q3))
                .fma(f, FloatVector.broadcast(S, Q2)).fma(f, FloatVector.broadcast(S, Q1)).fma(f, FloatVector.broadcast(S, 1f));
        // t's low mantissa bits hold n (two's complement): shifted into the exponent field, they add n to it.
        IntVector bits = p.reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23));
        return bits.reinterpretAsFloats().blend(0f, x.lt(EXP2_MIN_ARG));
    }

    /** {@code 2^x}, bit for bit what {@link #exp2(FloatVector)} gives in a lane. */
    public static float exp2(float x) {
        float t = x + ROUNDER;
        float f = x - (t - ROUNDER);
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(f, Q6, Q5), f, Q4), f, Q3), f, Q2), f, Q1), f, 1f);
        float r = Float.intBitsToFloat(Float.floatToRawIntBits(p) + (Float.floatToRawIntBits(t) << 23));
        return x < EXP2_MIN_ARG ? 0f : r;
    }

    /** {@code x / (1 + e^−x)}, the same bits in a lane and in {@link #silu(float)}. */
    public static FloatVector silu(FloatVector x) {
        return x.div(exp(x.neg()).add(1f));
    }

    public static float silu(float x) {
        return x / (exp(-x) + 1f);
    }
}
