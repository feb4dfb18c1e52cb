package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The implicit-GEMM convolution against a direct double-precision loop over the definition: every
 * geometry the VAE uses, plus the awkward sizes (channel, pixel and output-channel tails, several
 * column blocks, several pixel runs).
 */
class Conv2dTest {

    record Case(String name, int h, int w, int cin, int cout, int k, Conv2d.Geometry g, boolean accumulate) {
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("3x3 same, pixel and column tails", 7, 9, 32, 64, 3, Conv2d.Geometry.same(3), false),
                new Case("3x3 same, channel tail and narrow panel", 5, 6, 40, 130, 3, Conv2d.Geometry.same(3), false),
                new Case("3x3 stride 2, pad right/bottom only", 10, 7, 16, 16, 3, new Conv2d.Geometry(1, 2, 0, 0, 1, 1), false),
                new Case("3x3 on nearest x2 upsampled input", 5, 4, 16, 24, 3, Conv2d.Geometry.upsampled(3), false),
                new Case("1x1, two column blocks, accumulate", 6, 5, 300, 257, 1, Conv2d.Geometry.same(1), true),
                new Case("3 channels in, 3 out", 8, 8, 3, 3, 3, Conv2d.Geometry.same(3), false),
                new Case("many pixel runs", 41, 40, 64, 64, 3, Conv2d.Geometry.same(3), true));
    }

    @TestFactory
    Stream<DynamicTest> matchesDirectConvolution() {
        return cases().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c)));
    }

    static void check(Case c) {
        Random rnd = new Random(c.name().hashCode());
        float[] x = randoms(rnd, c.h() * c.w() * c.cin());
        float[] w = randoms(rnd, c.cout() * c.cin() * c.k() * c.k());
        float[] bias = randoms(rnd, c.cout());
        int oh = c.g().outHeight(c.h(), c.k());
        int ow = c.g().outWidth(c.w(), c.k());
        float[] initial = c.accumulate() ? randoms(rnd, oh * ow * c.cout()) : new float[oh * ow * c.cout()];
        float[] out = initial.clone();
        // An offset on both sides checks the addressing.
        float[] xPadded = new float[x.length + 5];
        System.arraycopy(x, 0, xPadded, 5, x.length);
        float[] outPadded = new float[out.length + 3];
        System.arraycopy(out, 0, outPadded, 3, out.length);
        Conv2d.conv2d(xPadded, 5, c.h(), c.w(), stored(w, DType.F32, c.cout(), c.cin(), c.k(), c.k()), bias, c.g(),
                outPadded, 3, c.accumulate());
        double[][] ref = direct(x, c.h(), c.w(), c.cin(), w, bias, c.cout(), c.k(), c.g(), oh, ow);
        for (int i = 0; i < out.length; i++) {
            double expected = ref[0][i] + (c.accumulate() ? initial[i] : 0);
            double bound = 1e-5 * (ref[1][i] + Math.abs(initial[i])) + 1e-6;
            double got = outPadded[3 + i];
            assertTrue(Math.abs(got - expected) <= bound,
                    c.name() + ": output " + i + " is " + got + ", expected " + expected);
        }
    }

    /** [value, Σ|term|] per output element, in double. */
    static double[][] direct(float[] x, int h, int w, int cin, float[] wt, float[] bias, int cout, int k,
                             Conv2d.Geometry g, int oh, int ow) {
        int up = g.upsample();
        double[] out = new double[oh * ow * cout];
        double[] mag = new double[out.length];
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                for (int co = 0; co < cout; co++) {
                    double s = bias[co];
                    double m = Math.abs(bias[co]);
                    for (int ci = 0; ci < cin; ci++) {
                        for (int ky = 0; ky < k; ky++) {
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * g.stride() - g.padTop() + ky;
                                int ix = ox * g.stride() - g.padLeft() + kx;
                                if (iy < 0 || ix < 0 || iy >= h * up || ix >= w * up) {
                                    continue;
                                }
                                double t = (double) x[((iy / up) * w + ix / up) * cin + ci]
                                        * wt[((co * cin + ci) * k + ky) * k + kx];
                                s += t;
                                m += Math.abs(t);
                            }
                        }
                    }
                    out[(oy * ow + ox) * cout + co] = s;
                    mag[(oy * ow + ox) * cout + co] = m;
                }
            }
        }
        return new double[][]{out, mag};
    }

    @Test
    void bf16WeightsGiveTheFloat32ResultOfTheRoundedValues() {
        Random rnd = new Random(3);
        int h = 9, w = 11, cin = 48, cout = 72;
        float[] x = randoms(rnd, h * w * cin);
        float[] wt = randoms(rnd, cout * cin * 9);
        short[] bits = new short[wt.length];
        float[] rounded = new float[wt.length];
        for (int i = 0; i < wt.length; i++) {
            bits[i] = FloatFormats.floatToBf16(wt[i]);
            rounded[i] = FloatFormats.bf16ToFloat(bits[i]);
        }
        ByteBuffer bb = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        bb.asShortBuffer().put(bits);
        StoredTensor asBf16 = new StoredTensor("w", "memory", DType.BF16, new long[]{cout, cin, 3, 3},
                MemorySegment.ofArray(bb.array()));
        float[] a = new float[h * w * cout];
        float[] b = new float[h * w * cout];
        Conv2d.conv2d(x, 0, h, w, asBf16, null, Conv2d.Geometry.same(3), a, 0, false);
        Conv2d.conv2d(x, 0, h, w, stored(rounded, DType.F32, cout, cin, 3, 3), null, Conv2d.Geometry.same(3), b, 0, false);
        assertArrayEquals(b, a);
    }

    @Test
    void badShapesAreRefusedWithTheTensorName() {
        StoredTensor w2d = stored(new float[12], DType.F32, 3, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                Conv2d.conv2d(new float[16], 0, 2, 2, w2d, null, Conv2d.Geometry.same(1), new float[12], 0, false));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("[Cout, Cin, kh, kw]"), e.getMessage());
        StoredTensor w = stored(new float[3 * 4 * 9], DType.F32, 3, 4, 3, 3);
        e = assertThrows(IllegalArgumentException.class, () ->
                Conv2d.conv2d(new float[10], 0, 2, 2, w, null, Conv2d.Geometry.same(3), new float[12], 0, false));
        assertTrue(e.getMessage().contains("buffers too small"), e.getMessage());
    }

    static float[] randoms(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }

    /** A weight held in memory, as a file would hold it (little-endian bytes). */
    static StoredTensor stored(float[] v, DType dtype, long... shape) {
        ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(v);
        return new StoredTensor("w", "memory", dtype, shape, MemorySegment.ofArray(bb.array()));
    }
}
