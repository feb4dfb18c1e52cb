package io.github.zimage4j.cuda;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Activations;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.kernels.FlashAttention;
import io.github.zimage4j.kernels.Gemm;
import io.github.zimage4j.kernels.GroupNorm;
import io.github.zimage4j.kernels.Norms;
import io.github.zimage4j.kernels.Rope;
import io.github.zimage4j.scheduler.FlowMatchEulerScheduler;
import io.github.zimage4j.scheduler.Schedule;
import io.github.zimage4j.scheduler.SchedulerConfig;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each CUDA kernel against the Java kernel it replaces, on random data. Element-wise kernels, RoPE, the
 * bf16 conversion, the Euler step and GroupNorm are written to give the Java kernels' exact bits and are
 * held to equality; row norms (a different summation order) to 2e-6 relative; the products (cuBLASLt,
 * tensor-core attention) to the project's tolerances for their precision. Runs only with a GPU.
 */
@Tag("gpu")
class CudaKernelsGpuTest {

    static CudaDevice device;
    static CudaKernels kernels;
    static CudaLinear linear;
    final List<DeviceBuffer> buffers = new ArrayList<>();
    final Random rnd = new Random(20261206);

    @BeforeAll
    static void open() {
        device = GpuTestSupport.openFirstDevice();
        if (device == null) {
            return;
        }
        System.out.println("GPU: " + device.describe());
        kernels = CudaKernels.load(device, Nvrtc.get());
        linear = new CudaLinear(device, CublasLt.get());
    }

    @AfterAll
    static void close() {
        if (linear != null) {
            linear.close();
        }
        if (kernels != null) {
            kernels.close();
        }
        if (device != null) {
            device.close();
        }
    }

    @org.junit.jupiter.api.BeforeEach
    void requireDevice() {
        org.junit.jupiter.api.Assumptions.assumeTrue(device != null, GpuTestSupport.missing);
    }

    @org.junit.jupiter.api.AfterEach
    void free() {
        for (DeviceBuffer b : buffers) {
            b.close();
        }
        buffers.clear();
    }

    long up(float[] v) {
        DeviceBuffer b = device.upload(v, "test data");
        buffers.add(b);
        return b.address();
    }

    long up(short[] v) {
        DeviceBuffer b = device.upload(v, "test data");
        buffers.add(b);
        return b.address();
    }

    long zeros(long bytes) {
        DeviceBuffer b = device.allocate(bytes, "test output");
        buffers.add(b);
        device.driver().zeroAsync(b.address(), bytes, device.stream());
        return b.address();
    }

    float[] down(long ptr, int n) {
        return device.downloadFloats(ptr, n);
    }

    float[] gaussian(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian() * scale;
        }
        return v;
    }

    /** Wide-range values plus the edges of exp: ±0, ±∞, NaN, beyond ±88. */
    float[] activations(int n) {
        float[] v = gaussian(n, 6f);
        float[] edges = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 90f, -90f, 88.7f, -87.4f,
                1e-30f, -1e-30f, Float.MIN_VALUE};
        System.arraycopy(edges, 0, v, 0, edges.length);
        return v;
    }

    static void assertBitsEqual(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + " on the GPU, " + expected[i]
                        + " in Java");
            }
        }
    }

    static double relativeRms(float[] expected, float[] actual) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = (double) actual[i] - expected[i];
            num += d * d;
            den += (double) expected[i] * expected[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    static void assertClose(float[] expected, float[] actual, double relTol, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 0;
        for (float e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs((double) actual[i] - expected[i]);
            if (!(d <= relTol * Math.max(scale, 1e-30))) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + " on the GPU, " + expected[i]
                        + " in Java (|Δ| " + d + " > " + relTol + " × max|x| " + scale + ")");
            }
        }
    }

    // ---------------------------------------------------------------- element-wise, bit for bit

    @Test
    void siluSwigluAndAddMatchJavaBitForBit() {
        int n = 100_003;
        float[] a = activations(n);
        float[] b = gaussian(n, 3f);
        float[] silu = a.clone();
        Activations.silu(silu, 0, n);
        long pa = up(a);
        kernels.silu(pa, n);
        assertBitsEqual(silu, down(pa, n), "silu");

        float[] sw = a.clone();
        Activations.swiglu(sw, 0, b, 0, n);
        long pa2 = up(a);
        kernels.swiglu(pa2, up(b), n);
        assertBitsEqual(sw, down(pa2, n), "swiglu");

        float[] sum = a.clone();
        Activations.add(sum, 0, b, 0, n);
        long pa3 = up(a);
        kernels.add(pa3, up(b), n);
        assertBitsEqual(sum, down(pa3, n), "add");
    }

    @Test
    void bf16ConversionsMatchFloatFormats() {
        int n = 65_536 + 12;
        float[] x = activations(n);
        for (int i = 12; i < n; i++) {
            x[i] = Float.intBitsToFloat(rnd.nextInt()); // every kind of bit pattern, halfway cases included
        }
        long px = up(x);
        long pb = zeros(2L * n);
        kernels.f32ToBf16(px, pb, n);
        short[] got = device.downloadShorts(pb, n);
        for (int i = 0; i < n; i++) {
            assertEquals(FloatFormats.floatToBf16(x[i]), got[i], "bf16 of " + x[i] + " (bits " + Integer.toHexString(Float.floatToRawIntBits(x[i])) + ")");
        }
        long pf = zeros(4L * n);
        kernels.bf16ToF32(pb, pf, n);
        float[] back = down(pf, n);
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToRawIntBits(FloatFormats.bf16ToFloat(got[i])), Float.floatToRawIntBits(back[i]));
        }
    }

    @Test
    void eulerStepAndScaleNoiseMatchTheSchedule() {
        Schedule s = new FlowMatchEulerScheduler(SchedulerConfig.withShift(3.0)).zImageSchedule(8, 4096);
        int n = 16 * 128 * 128;
        float[] sample = gaussian(n, 1f);
        float[] model = gaussian(n, 1f);
        for (int i = 0; i < s.numSteps(); i++) {
            float[] expected = new float[n];
            s.step(i, sample, model, expected);
            long out = zeros(4L * n);
            kernels.eulerStep(out, up(sample), up(model), s.sigma(i + 1) - s.sigma(i), n);
            assertBitsEqual(expected, down(out, n), "Euler step " + i);
        }
        float[] expected = new float[n];
        s.scaleNoise(3, sample, model, expected);
        long out = zeros(4L * n);
        kernels.scaleNoise(out, up(sample), up(model), s.sigma(3), n);
        assertBitsEqual(expected, down(out, n), "scale_noise");
    }

    @Test
    void timestepEmbeddingMatchesTheReferenceSinusoid() {
        // TimestepEmbedder's sinusoid (not exposed by the dit package), float32 with StrictMath.
        float[] t = {0f, 0.125f, 0.5f, 0.875f, 1f, 0.3333f};
        int dim = 256;
        float tScale = 1000f;
        int half = dim / 2;
        float negLog = (float) -StrictMath.log(10000.0);
        float[] expected = new float[t.length * dim];
        for (int s = 0; s < t.length; s++) {
            float scaled = t[s] * tScale;
            for (int i = 0; i < half; i++) {
                float freq = (float) StrictMath.exp((negLog * i) / half);
                float arg = scaled * freq;
                expected[s * dim + i] = (float) StrictMath.cos(arg);
                expected[s * dim + half + i] = (float) StrictMath.sin(arg);
            }
        }
        long out = zeros(4L * expected.length);
        kernels.timestepEmbedding(up(t), out, t.length, dim, tScale);
        float[] got = down(out, expected.length);
        for (int i = 0; i < got.length; i++) {
            int ulps = Math.abs(Float.floatToIntBits(got[i]) - Float.floatToIntBits(expected[i]));
            assertTrue(ulps <= 1, "element " + i + ": " + got[i] + " vs " + expected[i] + " (" + ulps + " ulp)");
        }
    }

    // ---------------------------------------------------------------- norms

    @ParameterizedTest(name = "rows {0}, dim {1}")
    @CsvSource({"7, 3840", "3, 2560", "5, 100", "1, 128"})
    void rowNormsMatchNorms(int rows, int dim) {
        float[] x = gaussian(rows * dim, 4f);
        for (int i = 0; i < dim; i++) {
            x[i] += 30f; // a row with a large mean: the two-pass LayerNorm keeps its digits
        }
        float[] y = gaussian(rows * dim, 2f);
        float[] w = gaussian(dim, 1f);
        float[] scale = gaussian(dim, 1f);
        float eps = 1e-6f;
        for (boolean withScale : new boolean[] {false, true}) {
            float[] rs = withScale ? scale : null;
            long prs = withScale ? up(scale) : 0L;
            float[] expected = new float[rows * dim];
            Norms.rmsNorm(x, 0, rows, dim, w, eps, rs, expected, 0);
            long out = zeros(4L * rows * dim);
            kernels.rmsNorm(up(x), rows, dim, up(w), eps, prs, out);
            assertClose(expected, down(out, rows * dim), 2e-6, "rmsNorm, scale " + withScale);

            float[] acc = y.clone();
            Norms.addRmsNormed(acc, 0, x, 0, rows, dim, w, eps, rs);
            long py = up(y);
            kernels.addRmsNormed(py, up(x), rows, dim, up(w), eps, prs);
            assertClose(acc, down(py, rows * dim), 2e-6, "addRmsNormed, gate " + withScale);

            float[] ln = new float[rows * dim];
            Norms.layerNorm(x, 0, rows, dim, eps, rs, ln, 0);
            long pl = zeros(4L * rows * dim);
            kernels.layerNorm(up(x), rows, dim, eps, prs, pl);
            assertClose(ln, down(pl, rows * dim), 2e-6, "layerNorm, scale " + withScale);
        }
    }

    @Test
    void ropeBothFormsMatchRopeBitForBit() {
        int rows = 37;
        int heads = 3;
        int headDim = 128;
        int stride = 3 * heads * headDim + 8; // a column range of a fused QKV buffer
        int tableRow0 = 5;
        int pairs = headDim / 2;
        float[] x = gaussian(rows * stride, 2f);
        float[] cos = new float[(rows + tableRow0) * pairs];
        float[] sin = new float[cos.length];
        for (int i = 0; i < cos.length; i++) {
            double a = rnd.nextDouble() * 40;
            cos[i] = (float) Math.cos(a);
            sin[i] = (float) Math.sin(a);
        }
        int off = heads * headDim; // the K columns
        float[] inter = x.clone();
        Rope.interleaved(inter, off, rows, stride, heads, headDim, cos, sin, tableRow0);
        long p = up(x);
        kernels.ropeInterleaved(p + 4L * off, rows, stride, heads, headDim, up(cos), up(sin), tableRow0);
        assertBitsEqual(inter, down(p, x.length), "interleaved RoPE");

        float[] half = x.clone();
        Rope.rotateHalf(half, off, rows, stride, heads, headDim, cos, sin, tableRow0);
        long p2 = up(x);
        kernels.ropeRotateHalf(p2 + 4L * off, rows, stride, heads, headDim, up(cos), up(sin), tableRow0);
        assertBitsEqual(half, down(p2, x.length), "rotate-half RoPE");
    }

    @ParameterizedTest(name = "{0} pixels × {1} channels, SiLU {2}")
    @CsvSource({"4096, 128, true", "1024, 512, false", "333, 256, true", "64, 32, false"})
    void groupNormMatchesGroupNormBitForBit(int pixels, int channels, boolean silu) {
        float[] x = gaussian(pixels * channels, 3f);
        for (int i = 0; i < x.length; i += 7) {
            x[i] += 50f;
        }
        float[] w = gaussian(channels, 1f);
        float[] b = gaussian(channels, 1f);
        float[] expected = new float[x.length];
        GroupNorm.groupNorm(x, 0, pixels, channels, 32, w, b, 1e-6f, silu, expected, 0);
        long px = up(x);
        kernels.groupNorm(px, pixels, channels, 32, up(w), up(b), 1e-6f, silu, px);
        assertBitsEqual(expected, down(px, x.length), "GroupNorm in place");
    }

    // ---------------------------------------------------------------- attention

    static short[] bf16(float[] v) {
        short[] s = new short[v.length];
        for (int i = 0; i < v.length; i++) {
            s[i] = FloatFormats.floatToBf16(v[i]);
        }
        return s;
    }

    static float[] rounded(float[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = FloatFormats.roundToBf16(v[i]);
        }
        return r;
    }

    /**
     * Q, K, V as column ranges of one fused [rows, (heads + 2·kvHeads)·headDim] buffer; Java attends over
     * the bf16-rounded values in float32.
     */
    @ParameterizedTest(name = "{0} queries, {1} keys, {2}/{3} heads of {4}, causal {5}, masked {6}")
    @CsvSource({
            "100, 100, 4, 2, 128, false, false, 1e-2",
            "77, 130, 2, 2, 128, true, true, 1e-2",
            "300, 300, 2, 1, 64, false, true, 1e-2",
            "50, 50, 1, 1, 512, false, false, 1e-5",
            "40, 65, 3, 3, 80, true, false, 1e-5"})
    void attentionMatchesFlashAttention(int queries, int keys, int heads, int kvHeads, int headDim, boolean causal,
                                        boolean masked, double tolerance) {
        int width = (heads + 2 * kvHeads) * headDim;
        int rows = Math.max(queries, keys);
        float[] fused = rounded(gaussian(rows * width, 1.5f));
        boolean[] mask = null;
        byte[] maskBytes = null;
        if (masked) {
            mask = new boolean[keys];
            maskBytes = new byte[keys];
            for (int j = 0; j < keys; j++) {
                mask[j] = j % 5 != 3 && j < keys - 7;
                maskBytes[j] = (byte) (mask[j] ? 1 : 0);
            }
        }
        float scale = (float) (1.0 / Math.sqrt(headDim));
        AttentionSpec spec = new AttentionSpec(queries, keys, heads, kvHeads, headDim, scale, causal, mask, 0, false);
        float[] expected = new float[queries * heads * headDim];
        FlashAttention.attention(new FlashAttention.Operand(fused, 0, width),
                new FlashAttention.Operand(fused, heads * headDim, width),
                new FlashAttention.Operand(fused, (heads + kvHeads) * headDim, width),
                new FlashAttention.Operand(expected, 0, heads * headDim), spec);
        long p = up(bf16(fused));
        long out = zeros(4L * expected.length);
        long pm = 0;
        if (masked) {
            DeviceBuffer mb = device.upload(maskBytes, "key mask");
            buffers.add(mb);
            pm = mb.address();
        }
        kernels.attention(p, width, p + 2L * heads * headDim, width, p + 2L * (heads + kvHeads) * headDim, width, out,
                heads * headDim, queries, keys, heads, kvHeads, headDim, scale, causal, pm);
        float[] got = down(out, expected.length);
        double err = relativeRms(expected, got);
        assertTrue(err <= tolerance, "relative RMS error " + err + " > " + tolerance);
    }

    @Test
    void aQueryThatSeesNoKeyGivesZeros() {
        int n = 20;
        int hd = 128;
        float[] fused = rounded(gaussian(n * 3 * hd, 1f));
        byte[] none = new byte[n];
        DeviceBuffer mb = device.upload(none, "empty key mask");
        buffers.add(mb);
        long p = up(bf16(fused));
        long out = up(gaussian(n * hd, 1f)); // garbage that must be overwritten
        kernels.attention(p, 3 * hd, p + 2L * hd, 3 * hd, p + 4L * hd, 3 * hd, out, hd, n, n, 1, 1, hd, 0.1f, false,
                mb.address());
        assertBitsEqual(new float[n * hd], down(out, n * hd), "fully masked attention");
    }

    // ---------------------------------------------------------------- cuBLASLt

    static StoredTensor stored(float[] v, DType dtype, long... shape) {
        ByteBuffer bb = ByteBuffer.allocate(v.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            if (dtype == DType.BF16) {
                bb.putShort(FloatFormats.floatToBf16(f));
            } else {
                bb.putFloat(f);
            }
        }
        return new StoredTensor("w", "memory", dtype, shape, MemorySegment.ofArray(bb.array()));
    }

    long upStored(StoredTensor t) {
        DeviceBuffer b = device.upload(t.data(), "weight " + t.name());
        buffers.add(b);
        return b.address();
    }

    @ParameterizedTest(name = "{0} rows, {1} → {2}, {3}, bias {4}, accumulate {5}")
    @CsvSource({"77, 3840, 640, BF16, true, false", "5, 256, 3840, BF16, true, true", "300, 64, 96, F32, false, false",
            "1, 2560, 128, F32, true, true"})
    void linearMatchesGemm(int rows, int in, int out, String type, boolean bias, boolean accumulate) {
        boolean isBf16 = type.equals("BF16");
        float[] x = gaussian(rows * in, 1f);
        float[] w = gaussian(out * in, 0.05f);
        if (isBf16) {
            x = rounded(x); // the GPU multiplies bf16 activations; Java gets the same values in float32
            w = rounded(w);
        }
        StoredTensor wt = stored(w, isBf16 ? DType.BF16 : DType.F32, out, in);
        float[] b = bias ? gaussian(out, 1f) : null;
        float[] y0 = gaussian(rows * out, 1f);
        float[] expected = new float[rows * out];
        Gemm.matmul(x, 0, rows, in, wt, b, expected, 0);
        if (accumulate) {
            for (int i = 0; i < expected.length; i++) {
                expected[i] += y0[i];
            }
        }
        long px = isBf16 ? up(bf16(x)) : up(x);
        long py = accumulate ? up(y0) : zeros(4L * rows * out);
        linear.linear(px, rows, in, upStored(wt), out, isBf16 ? CublasLt.DataType.BF16 : CublasLt.DataType.F32,
                bias ? up(b) : 0L, py, accumulate);
        double err = relativeRms(expected, down(py, rows * out));
        assertTrue(err <= 1e-5, "relative RMS error " + err);
    }

    @ParameterizedTest(name = "{0}×{1}×{2} → {3}, k{4}, {5}, {6}")
    @CsvSource({"16, 16, 64, 128, 3, same, F32", "12, 10, 32, 64, 3, upsampled, BF16", "17, 16, 64, 64, 3, down, BF16",
            "8, 8, 128, 3, 3, same, F32", "9, 7, 16, 32, 1, same, BF16"})
    void conv2dMatchesConv2d(int h, int w, int cin, int cout, int k, String geometry, String type) {
        Conv2d.Geometry g = switch (geometry) {
            case "same" -> Conv2d.Geometry.same(k);
            case "upsampled" -> Conv2d.Geometry.upsampled(k);
            default -> new Conv2d.Geometry(1, 2, 0, 0, 1, 1); // the VAE encoder's downsample
        };
        boolean isBf16 = type.equals("BF16");
        float[] x = gaussian(h * w * cin, 1f);
        float[] wv = gaussian(cout * cin * k * k, 0.1f);
        if (isBf16) {
            x = rounded(x);
            wv = rounded(wv);
        }
        StoredTensor wt = stored(wv, isBf16 ? DType.BF16 : DType.F32, cout, cin, k, k);
        float[] bias = gaussian(cout, 1f);
        int oh = g.outHeight(h, k);
        int ow = g.outWidth(w, k);
        float[] residual = gaussian(oh * ow * cout, 1f);
        float[] expected = residual.clone();
        Conv2d.conv2d(x, 0, h, w, wt, bias, g, expected, 0, true);
        long out = up(residual);
        linear.conv2d(kernels, up(x), h, w, cin, upStored(wt), isBf16 ? CublasLt.DataType.BF16 : CublasLt.DataType.F32,
                cout, k, k, up(bias), g, out, true);
        double err = relativeRms(expected, down(out, expected.length));
        assertTrue(err <= 1e-5, "relative RMS error " + err);
    }
}
