package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.kernels.GroupNorm;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The oneDNN convolution against the Java {@link Conv2d} on random data, for every geometry the VAE uses
 * (and a few it does not: ×3 upsampling, an upsampled 1×1), in f32 and in bf16.
 *
 * <p>f32 weights: the same products in another order, max |difference| ≤ 1e-5 of the output RMS. bf16
 * weights: the inputs are rounded to bf16 first, so both sides multiply the same values and only the order
 * of the f32 sums differs (same bound), except after upsampling, where the taps each phase sums are rounded
 * to bf16 once more: relative RMS error ≤ 2⁻⁹ (the bf16 rounding bound), max ≤ 5 % of the RMS. A misplaced
 * tap, band or phase gives errors of the order of the RMS.
 */
class OneDnnConvolutionTest {

    record Case(String name, int h, int w, int cin, int cout, int k, Conv2d.Geometry g, boolean accumulate,
                boolean bias, long bandBytes) {
    }

    static final long ONE_BAND = OneDnnConvolution.BAND_BYTES;

    static Stream<Case> cases() {
        return Stream.of(
                new Case("3x3 same, pixel and column tails", 7, 9, 32, 64, 3, Conv2d.Geometry.same(3), false, true, ONE_BAND),
                new Case("3x3 same, channel tail", 5, 6, 40, 130, 3, Conv2d.Geometry.same(3), false, true, ONE_BAND),
                new Case("3x3 same, many bands, accumulate", 41, 40, 64, 64, 3, Conv2d.Geometry.same(3), true, true, 40_000),
                new Case("3x3 stride 2, pad right/bottom only, odd size", 11, 7, 16, 16, 3,
                        new Conv2d.Geometry(1, 2, 0, 0, 1, 1), false, true, ONE_BAND),
                new Case("3x3 stride 2, pad right/bottom only, even size, bands", 16, 12, 32, 48, 3,
                        new Conv2d.Geometry(1, 2, 0, 0, 1, 1), false, true, 8_000),
                new Case("3x3 on nearest x2 upsampled input", 5, 4, 16, 24, 3, Conv2d.Geometry.upsampled(3), false, true, ONE_BAND),
                new Case("x2 upsampled, accumulate, no bias, bands", 9, 7, 32, 32, 3, Conv2d.Geometry.upsampled(3), true, false, 20_000),
                new Case("x3 upsampled, asymmetric pads", 4, 5, 16, 16, 3, new Conv2d.Geometry(3, 1, 2, 0, 1, 2), false, true, ONE_BAND),
                new Case("1x1 after x2 upsampling", 3, 4, 16, 16, 1, new Conv2d.Geometry(2, 1, 0, 0, 0, 0), false, true, ONE_BAND),
                new Case("1x1, accumulate", 6, 5, 300, 257, 1, Conv2d.Geometry.same(1), true, true, ONE_BAND),
                new Case("3 channels in, 3 out", 8, 8, 3, 3, 3, Conv2d.Geometry.same(3), false, true, ONE_BAND));
    }

    @TestFactory
    Stream<DynamicTest> f32MatchesJavaConvolution() {
        return cases().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c, DType.F32)));
    }

    @TestFactory
    Stream<DynamicTest> bf16MatchesJavaConvolution() {
        return cases().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c, DType.BF16)));
    }

    static void check(Case c, DType dtype) {
        Random rnd = new Random(c.name().hashCode());
        boolean bf16 = dtype == DType.BF16;
        float[] x = randoms(rnd, c.h() * c.w() * c.cin() + 5, bf16);
        float[] w = randoms(rnd, c.cout() * c.cin() * c.k() * c.k(), bf16);
        float[] bias = c.bias() ? randoms(rnd, c.cout(), false) : null;
        int oh = c.g().outHeight(c.h(), c.k());
        int ow = c.g().outWidth(c.w(), c.k());
        float[] initial = randoms(rnd, oh * ow * c.cout() + 3, false);
        if (!c.accumulate()) {
            // A recycled output array holds old values: every output must be written, none read.
            java.util.Arrays.fill(initial, Float.NaN);
        }
        try (Arena arena = Arena.ofShared()) {
            StoredTensor weight = stored(arena, w, dtype, c.cout(), c.cin(), c.k(), c.k());
            float[] want = initial.clone();
            Conv2d.conv2d(x, 5, c.h(), c.w(), weight, bias, c.g(), want, 3, c.accumulate());
            float[] got = initial.clone();
            OneDnnConvolution conv = new OneDnnConvolution(Dnnl.get(), new NativeBuffer());
            conv.bandBytes(c.bandBytes());
            conv.run(x, 5, c.h(), c.w(), weight, bias, c.g(), got, 3, c.accumulate());
            double err = 0;
            double ref = 0;
            double max = 0;
            for (int i = 3; i < want.length; i++) {
                double d = got[i] - want[i];
                err += d * d;
                ref += (double) want[i] * want[i];
                max = Math.max(max, Math.abs(d));
            }
            double rms = Math.sqrt(ref / (want.length - 3));
            double relRms = Math.sqrt(err / ref);
            String what = c.name() + " (" + dtype + "): relative RMS error " + relRms + ", max " + max / rms
                    + " of the RMS; " + conv.implementations();
            if (bf16 && c.g().upsample() > 1) {
                assertTrue(relRms <= 0x1p-9 && max <= 0.05 * rms, what);
            } else {
                assertTrue(max <= 1e-5 * rms, what);
            }
        }
    }

    /**
     * A GroupNorm (with SiLU) applied in the input copy gives the convolution of the map {@link GroupNorm}
     * writes, in every band (bf16: that map rounded to bf16, which is what oneDNN multiplies). The input has
     * a large mean, so a normalization left out or applied twice is far off.
     */
    @Test
    void normalizesTheInputInTheCopyAsGroupNormWould() {
        int h = 13;
        int w = 11;
        int cin = 64;
        int cout = 48;
        for (DType dtype : new DType[]{DType.F32, DType.BF16}) {
            for (boolean accumulate : new boolean[]{false, true}) {
                boolean bf16 = dtype == DType.BF16;
                Random rnd = new Random(7);
                float[] x = randoms(rnd, h * w * cin + 5, false);
                for (int i = 0; i < x.length; i++) {
                    x[i] = 3 * x[i] + 20;
                }
                float[] normWeight = randoms(rnd, cin, false);
                float[] normBias = randoms(rnd, cin, false);
                GroupNorm.Params norm = new GroupNorm.Params(8, normWeight, normBias, 1e-6f, true);
                float[] wv = randoms(rnd, cout * cin * 9, bf16);
                float[] bias = randoms(rnd, cout, false);
                float[] initial = randoms(rnd, h * w * cout + 3, false);
                if (!accumulate) {
                    java.util.Arrays.fill(initial, Float.NaN);
                }
                float[] normed = new float[h * w * cin];
                GroupNorm.groupNorm(x, 5, h * w, cin, norm.groups(), normWeight, normBias, norm.eps(), true, normed, 0);
                if (bf16) {
                    for (int i = 0; i < normed.length; i++) {
                        normed[i] = FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(normed[i]));
                    }
                }
                try (Arena arena = Arena.ofShared()) {
                    StoredTensor weight = stored(arena, wv, dtype, cout, cin, 3, 3);
                    float[] want = initial.clone();
                    Conv2d.conv2d(normed, 0, h, w, weight, bias, Conv2d.Geometry.same(3), want, 3, accumulate);
                    float[] scale = new float[cin];
                    float[] shift = new float[cin];
                    GroupNorm.affine(x, 5, h * w, cin, norm.groups(), normWeight, normBias, norm.eps(), scale, shift);
                    float[] got = initial.clone();
                    OneDnnConvolution conv = new OneDnnConvolution(Dnnl.get(), new NativeBuffer());
                    conv.bandBytes(20_000);
                    conv.run(x, 5, h, w, weight, bias, Conv2d.Geometry.same(3), got, 3, accumulate,
                            new OneDnnConvolution.Normalization(scale, shift, true));
                    double ref = 0;
                    double max = 0;
                    for (int i = 3; i < want.length; i++) {
                        ref += (double) want[i] * want[i];
                        max = Math.max(max, Math.abs(got[i] - want[i]));
                    }
                    double rms = Math.sqrt(ref / (want.length - 3));
                    assertTrue(max <= 1e-5 * rms, dtype + (accumulate ? " accumulate" : "") + ": max |difference| "
                            + max / rms + " of the RMS");
                }
            }
        }
    }

    @Test
    void badArgumentsAreRefusedWithTheTensorName() {
        try (Arena arena = Arena.ofShared()) {
            StoredTensor w = stored(arena, new float[3 * 4 * 9], DType.F32, 3, 4, 3, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ((HostBackend) Backends.select("onednn"))
                    .conv2d(new float[10], 0, 2, 2, w, null, Conv2d.Geometry.same(3), new float[12], 0, false));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("buffers too small"), e.getMessage());
        }
    }

    /** Gaussian values, rounded to bf16 when asked (so both sides multiply the same numbers). */
    static float[] randoms(Random rnd, int n, boolean bf16) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
            if (bf16) {
                v[i] = FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(v[i]));
            }
        }
        return v;
    }

    /** A weight in native memory, as a memory-mapped file holds it. */
    static StoredTensor stored(Arena arena, float[] v, DType dtype, long... shape) {
        boolean bf16 = dtype == DType.BF16;
        MemorySegment seg = arena.allocate((long) v.length * (bf16 ? 2 : 4), 64);
        for (int i = 0; i < v.length; i++) {
            if (bf16) {
                seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, FloatFormats.floatToBf16(v[i]));
            } else {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, v[i]);
            }
        }
        return new StoredTensor("w", "memory", dtype, shape, seg);
    }
}
