package io.github.zimage4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Channels-last GroupNorm against the definition computed in double. */
class GroupNormTest {

    @Test
    void matchesTheDefinitionWithAndWithoutSilu() {
        // 37 channels per group is not a vector multiple; 3000 pixels span several parallel runs.
        check(3000, 74, 2, false, 0f);
        check(3000, 74, 2, true, 0f);
        check(50, 512, 32, true, 0f);
        // A large mean is where a one-pass variance would lose digits (~1e-2 here).
        check(4000, 64, 8, false, 300f);
    }

    static void check(int pixels, int channels, int groups, boolean silu, float offset) {
        Random rnd = new Random(pixels + channels);
        float[] x = new float[pixels * channels];
        for (int i = 0; i < x.length; i++) {
            x[i] = offset + (float) rnd.nextGaussian() * (1 + (i % channels) * 0.01f);
        }
        float[] w = new float[channels];
        float[] b = new float[channels];
        for (int c = 0; c < channels; c++) {
            w[c] = 1 + 0.1f * (float) rnd.nextGaussian();
            b[c] = 0.1f * (float) rnd.nextGaussian();
        }
        float[] out = new float[x.length];
        GroupNorm.groupNorm(x, 0, pixels, channels, groups, w, b, 1e-6f, silu, out, 0);
        int per = channels / groups;
        for (int g = 0; g < groups; g++) {
            double s = 0;
            for (int p = 0; p < pixels; p++) {
                for (int c = g * per; c < (g + 1) * per; c++) {
                    s += x[p * channels + c];
                }
            }
            double mean = s / ((double) pixels * per);
            double v = 0;
            for (int p = 0; p < pixels; p++) {
                for (int c = g * per; c < (g + 1) * per; c++) {
                    double d = x[p * channels + c] - mean;
                    v += d * d;
                }
            }
            double rstd = 1 / Math.sqrt(v / ((double) pixels * per) + 1e-6);
            for (int p = 0; p < pixels; p++) {
                for (int c = g * per; c < (g + 1) * per; c++) {
                    double y = (x[p * channels + c] - mean) * rstd * w[c] + b[c];
                    if (silu) {
                        y = y / (1 + Math.exp(-y));
                    }
                    double got = out[p * channels + c];
                    // The kernel applies x·(rstd·w) + (b − mean·rstd·w), as torch's CPU kernel does: float
                    // rounding of the x·rstd·w term adds to the bound when the mean is large.
                    double bound = 2e-5 * (1 + Math.abs(y)) + 2e-7 * Math.abs(x[p * channels + c] * rstd * w[c]);
                    assertTrue(Math.abs(got - y) <= bound,
                            "pixel " + p + " channel " + c + ": " + got + ", expected " + y);
                }
            }
        }
    }

    @Test
    void inPlaceIsAllowed() {
        float[] x = new float[64 * 32];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 7;
        }
        float[] expected = new float[x.length];
        float[] ones = new float[32];
        java.util.Arrays.fill(ones, 1f);
        GroupNorm.groupNorm(x, 0, 64, 32, 4, ones, new float[32], 1e-6f, true, expected, 0);
        GroupNorm.groupNorm(x, 0, 64, 32, 4, ones, new float[32], 1e-6f, true, x, 0);
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, x);
    }

    @Test
    void channelsMustSplitIntoGroups() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                GroupNorm.groupNorm(new float[30], 0, 1, 30, 4, new float[30], new float[30], 1e-6f, false, new float[30], 0));
        assertTrue(e.getMessage().contains("30 channels cannot form 4 groups"), e.getMessage());
    }
}
