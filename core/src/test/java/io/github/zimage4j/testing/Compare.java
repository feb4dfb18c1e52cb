package io.github.zimage4j.testing;

import static org.junit.jupiter.api.Assertions.fail;

/** numpy-style {@code allclose}: |actual − expected| ≤ atol + rtol·|expected| for every element. */
public final class Compare {

    private Compare() {
    }

    public static void allClose(String what, float[] expected, int eOff, float[] actual, int aOff, int n,
                                double atol, double rtol) {
        int worst = -1;
        double worstExcess = 0;
        double maxAbs = 0;
        int bad = 0;
        for (int i = 0; i < n; i++) {
            double e = expected[eOff + i];
            double a = actual[aOff + i];
            double diff = Math.abs(a - e);
            if (Double.isNaN(a) != Double.isNaN(e)) {
                diff = Double.POSITIVE_INFINITY;
            }
            maxAbs = Math.max(maxAbs, diff);
            double excess = diff - (atol + rtol * Math.abs(e));
            if (excess > 0 || Double.isNaN(diff)) {
                bad++;
                if (worst < 0 || excess > worstExcess) {
                    worst = i;
                    worstExcess = excess;
                }
            }
        }
        if (bad > 0) {
            fail(String.format("%s: %d of %d values outside atol %.1e rtol %.1e; max |diff| %.3e; worst at %d: expected %s, got %s",
                    what, bad, n, atol, rtol, maxAbs, worst, expected[eOff + worst], actual[aOff + worst]));
        }
    }

    public static void allClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            fail(what + ": " + actual.length + " values, expected " + expected.length);
        }
        allClose(what, expected, 0, actual, 0, expected.length, atol, rtol);
    }

    /** sqrt(mean((a − b)²)) / sqrt(mean(b²)): the relative RMS error used for bf16-computing backends. */
    public static double relativeRms(float[] a, float[] b) {
        double err = 0;
        double ref = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            err += d * d;
            ref += (double) b[i] * b[i];
        }
        return ref == 0 ? Math.sqrt(err / a.length) : Math.sqrt(err / ref);
    }

    /** max |a − b| / max |b|: the relative error used for whole-tensor comparisons. */
    public static double relativeError(float[] a, float[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }
}
