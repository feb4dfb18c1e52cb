package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Exp} and {@link Lanes}: accurate, and the same bits in a vector lane, a scalar, and in every JIT state. */
class DeterministicMathTest {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void expIsAccurateAndTheScalarFormGivesTheLaneBits() {
        Random r = new Random(11);
        float[] x = new float[S.length() * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() * 180 - 90);
        }
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = Float.POSITIVE_INFINITY;
        x[2] = Float.NaN;
        x[3] = 0f;
        x[4] = -0f;
        x[5] = -87.3f;
        x[6] = 88.7f;
        float[] lanes = new float[x.length];
        // Repeat so the loop runs interpreted, then compiled: the bits must not change with the JIT.
        for (int rep = 0; rep < 30; rep++) {
            for (int i = 0; i < x.length; i += S.length()) {
                Exp.exp(FloatVector.fromArray(S, x, i)).intoArray(lanes, i);
            }
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(Exp.exp(x[i])), Float.floatToRawIntBits(lanes[i]), "exp(" + x[i] + ")");
            }
        }
        assertEquals(0f, lanes[0]);
        assertEquals(Float.POSITIVE_INFINITY, lanes[1]);
        assertTrue(Float.isNaN(lanes[2]));
        assertEquals(1f, lanes[3]);
        assertEquals(1f, lanes[4]);
        for (int i = 5; i < x.length; i++) {
            double exact = StrictMath.exp(x[i]);
            if (exact < Float.MIN_NORMAL) {
                assertEquals(0f, lanes[i], "exp(" + x[i] + ") below the normal range");
            } else if (exact <= Float.MAX_VALUE) {
                assertEquals(exact, lanes[i], 3 * Math.ulp((float) exact), "exp(" + x[i] + ")");
            }
        }
    }

    @Test
    void exp2IsAccurateAndTheScalarFormGivesTheLaneBits() {
        Random r = new Random(12);
        float[] x = new float[S.length() * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() * 140 - 130);
        }
        float[] fixed = {Float.NEGATIVE_INFINITY, Float.NaN, 0f, -0f, -125f, -125.01f, -124.5f, -0.5f, 0.5f, -1e30f, 127f, 1e-7f};
        System.arraycopy(fixed, 0, x, 0, fixed.length);
        float[] lanes = new float[x.length];
        for (int rep = 0; rep < 30; rep++) {
            for (int i = 0; i < x.length; i += S.length()) {
                Exp.exp2(FloatVector.fromArray(S, x, i)).intoArray(lanes, i);
            }
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(Exp.exp2(x[i])), Float.floatToRawIntBits(lanes[i]), "exp2(" + x[i] + ")");
            }
        }
        assertEquals(0f, lanes[0]);
        assertTrue(Float.isNaN(lanes[1]));
        assertEquals(1f, lanes[2]);
        assertEquals(1f, lanes[3]);
        assertEquals(0f, lanes[5], "below 2^-125 flushes to 0");
        assertEquals(0f, lanes[9]);
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i]) || x[i] < -125f) {
                continue;
            }
            double exact = StrictMath.pow(2, x[i]);
            assertEquals(exact, lanes[i], 1.5 * Math.ulp((float) exact), "exp2(" + x[i] + ")");
        }
    }

    @Test
    void siluMatchesItsDefinition() {
        for (float v = -20f; v <= 20f; v += 0.37f) {
            float lane = Exp.silu(FloatVector.broadcast(S, v)).lane(0);
            assertEquals(Float.floatToRawIntBits(Exp.silu(v)), Float.floatToRawIntBits(lane));
            assertEquals(v / (1 + StrictMath.exp(-v)), lane, 1e-6 * Math.max(1, Math.abs(v)));
        }
    }

    @Test
    void laneSumsAddLeftToRightInEveryJitState() {
        Random r = new Random(5);
        float[] a = new float[S.length() * 2048];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (r.nextGaussian() * StrictMath.exp(r.nextGaussian() * 3));
        }
        for (int rep = 0; rep < 40; rep++) {
            for (int off = 0; off < a.length; off += S.length()) {
                float expected = 0f;
                for (int i = 0; i < S.length(); i++) {
                    expected = i == 0 ? a[off] : expected + a[off + i];
                }
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(Lanes.sum(FloatVector.fromArray(S, a, off))));
            }
        }
    }
}
