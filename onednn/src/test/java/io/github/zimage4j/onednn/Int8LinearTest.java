package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.quantize.GgmlQuantizer;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Compare;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Q8_0 weights converted to int8 rows and multiplied on the int8 units, against the Java kernels' float32
 * product of the same Q8_0 weights: exactly where no value is rounded, within the 8-bit accuracy bound on
 * random data, and with a row's result independent of the other rows.
 */
class Int8LinearTest {

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Row counts below the matmul threshold ({@link OneDnnBackend#MIN_ROWS}: the Java kernels, float32) and
     * above it (int8); widths not a multiple of 64.
     */
    private static final int[][] SHAPES = {
            // rows, k (in), n (out)
            {1, 32, 1}, {7, 96, 17}, {8, 32, 1}, {9, 96, 17}, {8, 64, 64}, {40, 160, 100}, {300, 960, 48}, {129, 224, 333},
    };

    private final OneDnnBackend backend = new OneDnnBackend(Dnnl.get());

    /**
     * A Q8_0 weight of whole int8 steps of 2⁻⁶ where every row holds ±127 (its per-row requantization is
     * exact), inputs of whole steps of 2⁻³ from −128 to 127 steps where every row holds both ends (its
     * uint8 quantization is exact: scale 2⁻³, zero point 128), integer biases: every product and sum is exact
     * in float32, so the int8 product must equal the float32 one bit for bit.
     */
    @Test
    void equalsTheFloat32ProductWhereNothingIsRounded() {
        Random rnd = new Random(11);
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : SHAPES) {
                int rows = s[0];
                int k = s[1];
                int n = s[2];
                byte[] q = new byte[n * k];
                for (int j = 0; j < n; j++) {
                    for (int i = 0; i < k; i++) {
                        q[j * k + i] = (byte) (rnd.nextInt(255) - 127);
                    }
                    q[j * k + rnd.nextInt(k)] = (byte) (rnd.nextBoolean() ? 127 : -127);
                }
                StoredTensor w = q8(arena, "exact", n, k, q, 1f / 64);
                float[] bias = new float[n];
                for (int j = 0; j < n; j++) {
                    bias[j] = rnd.nextInt(201) - 100;
                }
                float[] x = new float[rows * k];
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < k; i++) {
                        x[r * k + i] = (rnd.nextInt(256) - 128) / 8f;
                    }
                    int low = rnd.nextInt(k);
                    x[r * k + low] = -128 / 8f;
                    x[r * k + (low + 1 + rnd.nextInt(k - 1)) % k] = 127 / 8f;
                }
                Linear layer = new Linear(w, bias);
                assertEquals(1, backend.prepareWeights(List.of(layer)).tensors(), "converted");
                float[] want = new float[rows * n];
                JavaBackend.INSTANCE.linear(x, 0, rows, layer, want, 0);
                float[] got = new float[rows * n];
                backend.linear(x, 0, rows, layer, got, 0);
                assertArrayEquals(want, got, java.util.Arrays.toString(s));
                String impl = backend.int8Implementation(rows, k, n);
                if (rows < OneDnnBackend.MIN_ROWS) {
                    assertNull(impl, "few rows stay on the Java kernels");
                    continue;
                }
                assertNotNull(impl, "an int8 primitive ran for " + java.util.Arrays.toString(s));
                assertFalse(impl.startsWith("ref"), "oneDNN's reference int8 matmul (" + impl + ") for " + java.util.Arrays.toString(s));
            }
        }
    }

    /**
     * Gaussian weights quantized to Q8_0 by ggml's quantizer and Gaussian inputs: the int8 product (weights
     * re-quantized per row, inputs per row) stays within the 2e-2 relative RMS the 8-bit path is held to,
     * measured against the float32 product of the same Q8_0 weights.
     */
    @Test
    void staysWithinTheEightBitBoundOnRandomData() {
        Random rnd = new Random(12);
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : new int[][]{{40, 160, 100}, {300, 960, 48}, {64, 3840, 256}}) {
                int rows = s[0];
                int k = s[1];
                int n = s[2];
                StoredTensor w = gaussianQ8(arena, rnd, n, k);
                float[] x = gaussian(rnd, rows * k);
                float[] bias = gaussian(rnd, n);
                Linear layer = new Linear(w, bias);
                backend.prepareWeights(List.of(layer));
                float[] want = new float[rows * n];
                JavaBackend.INSTANCE.linear(x, 0, rows, layer, want, 0);
                float[] got = new float[rows * n];
                backend.linear(x, 0, rows, layer, got, 0);
                double rms = Compare.relativeRms(got, want);
                assertTrue(rms <= 2e-2, java.util.Arrays.toString(s) + ": relative RMS " + rms);
                assertTrue(rms > 0, "the int8 product rounds; an exact match means it did not run");
            }
        }
    }

    /**
     * A few rows alone or all rows together: the same bytes (oneDNN blocks the calls differently; the int32
     * sums are exact, so only the row and the weight decide the result).
     */
    @Test
    void aRowsResultDependsOnlyOnThatRow() {
        Random rnd = new Random(13);
        int rows = 37;
        int k = 192;
        int n = 70;
        try (Arena arena = Arena.ofShared()) {
            StoredTensor w = gaussianQ8(arena, rnd, n, k);
            Linear layer = new Linear(w, gaussian(rnd, n));
            backend.prepareWeights(List.of(layer));
            float[] x = gaussian(rnd, rows * k);
            float[] all = new float[rows * n];
            backend.linear(x, 0, rows, layer, all, 0);
            int part = OneDnnBackend.MIN_ROWS;
            for (int r = 0; r + part <= rows; r += 3) {
                float[] some = new float[part * n];
                backend.linear(x, r * k, part, layer, some, 0);
                assertArrayEquals(java.util.Arrays.copyOfRange(all, r * n, (r + part) * n), some, "rows " + r + "… alone");
            }
        }
    }

    /** A {@code quantize --type int8} weight (Q8_0 rows sharing one scale) converts without loss: same quants, same scale. */
    @Test
    void rowScaledQ8ConvertsWithoutLoss() {
        Random rnd = new Random(15);
        int n = 48;
        int k = 224;
        try (Arena arena = Arena.ofShared()) {
            float[] v = gaussian(rnd, n * k);
            byte[] bytes = new byte[(int) DType.Q8_0.byteSize((long) n * k)];
            for (int r = 0; r < n; r++) {
                GgmlQuantizer.q8_0RowScaled(v, r * k, k, bytes, r * (k / 32) * 34);
            }
            MemorySegment seg = arena.allocate(bytes.length, 64);
            MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
            Int8Weights.Rows rows = Int8Weights.convert(new StoredTensor("w", "test", DType.Q8_0, new long[]{n, k}, seg));
            for (int r = 0; r < n; r++) {
                int block0 = r * (k / 32) * 34;
                assertEquals(Float.float16ToFloat(seg.get(I16, block0)), rows.scales()[r], "row " + r + " scale");
                int sum = 0;
                for (int i = 0; i < k; i++) {
                    byte q = seg.get(ValueLayout.JAVA_BYTE, block0 + 34L * (i / 32) + 2 + i % 32);
                    assertEquals(q, rows.quants().get(ValueLayout.JAVA_BYTE, (long) r * k + i), "[" + r + ", " + i + "]");
                    sum += q;
                }
                assertEquals(sum, rows.sums()[r], "row " + r + " sum");
            }
        }
    }

    /**
     * The conversion against its rule, written out value by value here: each weight decoded as the Java kernels
     * decode Q8_0 ({@code (float) q · d}, then {@code · scale} where the tensor has one), the row's scale
     * {@code max|x| / 127}, each quant {@code x · (127 / max)} rounded half away from zero; rows of zeros
     * and rows with a NaN or infinity give all-zero quants. Random quants (−128 included) and block scales over
     * many magnitudes (subnormal, zero, negative, infinite, NaN), with and without a tensor scale (one that
     * overflows too), widths from one block to a DiT row: every byte, scale and sum must match.
     */
    @Test
    void conversionFollowsTheRequantizationRuleByteForByte() {
        Random rnd = new Random(16);
        try (Arena arena = Arena.ofShared()) {
            for (int k : new int[]{32, 96, 3840}) {
                for (float tensorScale : new float[]{1f, 0.37f, 3e37f}) {
                    int n = 37;
                    int blocks = n * k / 32;
                    MemorySegment seg = arena.allocate(34L * blocks, 64);
                    for (int b = 0; b < blocks; b++) {
                        float d = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(40) - 30));
                        seg.set(I16, 34L * b, Float.floatToFloat16(d));
                        for (int i = 0; i < 32; i++) {
                            seg.set(ValueLayout.JAVA_BYTE, 34L * b + 2 + i, (byte) rnd.nextInt(256));
                        }
                    }
                    int perRow = k / 32;
                    seg.set(I16, 34L * (3 * perRow), (short) 0); // row 3: a block of zero scale
                    for (int b = 5 * perRow; b < 6 * perRow; b++) { // row 5: zeros
                        seg.set(I16, 34L * b, (short) 0);
                    }
                    seg.set(I16, 34L * (7 * perRow + perRow - 1), Float.floatToFloat16(Float.POSITIVE_INFINITY)); // row 7
                    seg.set(I16, 34L * (11 * perRow), Float.floatToFloat16(Float.NaN)); // row 11
                    seg.set(I16, 34L * (13 * perRow), Float.floatToFloat16(Float.MIN_VALUE)); // row 13: a subnormal scale
                    StoredTensor w = new StoredTensor("w", "test", DType.Q8_0, new long[]{n, k}, seg, tensorScale);
                    Int8Weights.Rows got = Int8Weights.convert(w);
                    for (int r = 0; r < n; r++) {
                        float[] x = new float[k];
                        float max = 0f;
                        for (int i = 0; i < k; i++) {
                            long block = 34L * ((long) r * perRow + i / 32);
                            x[i] = seg.get(ValueLayout.JAVA_BYTE, block + 2 + i % 32) * Float.float16ToFloat(seg.get(I16, block));
                            if (tensorScale != 1f) {
                                x[i] *= tensorScale;
                            }
                            max = Float.isNaN(x[i]) || Float.isNaN(max) ? Float.NaN : Math.max(max, Math.abs(x[i]));
                        }
                        boolean regular = max > 0f && max < Float.POSITIVE_INFINITY;
                        String where = "k " + k + ", scale " + tensorScale + ", row " + r;
                        assertEquals(max == 0f ? 0f : regular ? max / 127f : Float.NaN, got.scales()[r], where + ": scale");
                        int sum = 0;
                        for (int i = 0; i < k; i++) {
                            byte want = 0;
                            if (regular) {
                                float t = x[i] * (127f / max);
                                want = (byte) (int) (t + (t < 0f ? -0.5f : 0.5f));
                            }
                            assertEquals(want, got.quants().get(ValueLayout.JAVA_BYTE, (long) r * k + i), where + ", value " + i);
                            sum += want;
                        }
                        assertEquals(sum, got.sums()[r], where + ": sum");
                    }
                    got.memory().close();
                }
            }
        }
    }

    /** The converted copy is found through another view of the same bytes, and forgotten with its mapping. */
    @Test
    void convertedWeightsLiveAsLongAsTheirSource() {
        Random rnd = new Random(14);
        Arena arena = Arena.ofShared();
        {
            StoredTensor w = gaussianQ8(arena, rnd, 64, 64);
            Linear layer = new Linear(w, null);
            WeightPreparation c = backend.prepareWeights(List.of(layer, new Linear(w.named("again"), null)));
            assertEquals(1, c.tensors(), "two views of one weight: one conversion");
            assertEquals("int8", c.products());
            assertEquals("onednn", c.backend());
            assertEquals(64 * 64 + 8 * 64, c.bytes());
            Int8Weights weights = new Int8Weights();
            weights.convert(List.of(layer), List.of(), "test");
            assertNotNull(weights.find(w.named("renamed")), "found by its bytes");
            assertNull(weights.find(w.withScale(2f)), "another scale is another weight");
            arena.close();
            assertNull(weights.find(w), "its mapping is closed");
        }
        float[] x = gaussian(rnd, 64);
        float[] out = new float[64];
        // The bf16 path's unconverted view of an F32 weight still works after the Q8_0 source closed.
        try (Arena a = Arena.ofShared()) {
            StoredTensor f32 = new StoredTensor("f", "test", DType.F32, new long[]{64, 64}, a.allocate(64 * 64 * 4L, 64));
            Linear plain = new Linear(f32, null);
            assertEquals(WeightPreparation.NONE, backend.prepareWeights(List.of(plain)), "F32 weights are not converted");
            backend.linear(x, 0, 1, plain, out, 0);
        }
    }

    /**
     * A layer the model marks precision-sensitive keeps its Q8_0 weight: counted as kept (an F32 one is not:
     * it would not have been converted), and its product is the bf16 path's, bit for bit that of a backend
     * that converted nothing, with no int8 primitive for its shape.
     */
    @Test
    void sensitiveLayersStayOnTheBf16Path() {
        Random rnd = new Random(15);
        try (Arena arena = Arena.ofShared()) {
            Linear converted = new Linear(gaussianQ8(arena, rnd, 64, 96), null);
            Linear sensitive = new Linear(gaussianQ8(arena, rnd, 48, 160), gaussian(rnd, 48));
            Linear plain = new Linear(new StoredTensor("f", "test", DType.F32, new long[]{16, 32}, arena.allocate(16 * 32 * 4L, 64)), null);
            OneDnnBackend be = new OneDnnBackend(Dnnl.get());
            WeightPreparation c = be.prepareWeights(List.of(converted), List.of(sensitive, plain));
            assertEquals(1, c.tensors(), "converted");
            assertEquals(1, c.kept(), "the sensitive Q8_0 weight, not the F32 one");
            assertTrue(c.toString().endsWith("1 weights of precision-sensitive layers left as stored"), c.toString());
            int rows = 20;
            float[] x = gaussian(rnd, rows * 160);
            float[] got = new float[rows * 48];
            be.linear(x, 0, rows, sensitive, got, 0);
            float[] want = new float[rows * 48];
            new OneDnnBackend(Dnnl.get()).linear(x, 0, rows, sensitive, want, 0);
            assertArrayEquals(want, got);
            assertNull(be.int8Implementation(rows, 160, 48), "no int8 product for the sensitive layer");
        }
    }

    static StoredTensor gaussianQ8(Arena arena, Random rnd, int n, int k) {
        float[] v = gaussian(rnd, n * k);
        for (int i = 0; i < v.length; i++) {
            v[i] /= (float) Math.sqrt(k);
        }
        byte[] bytes = new byte[(int) DType.Q8_0.byteSize((long) n * k)];
        GgmlQuantizer.quantize(DType.Q8_0, v, 0, n * k, bytes, 0);
        MemorySegment seg = arena.allocate(bytes.length, 64);
        MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return new StoredTensor("gaussian", "test", DType.Q8_0, new long[]{n, k}, seg);
    }

    /** Q8_0 blocks of the given quants, every block with scale d. */
    private static StoredTensor q8(Arena arena, String name, int n, int k, byte[] q, float d) {
        int blocks = n * k / 32;
        MemorySegment seg = arena.allocate(34L * blocks, 64);
        for (int b = 0; b < blocks; b++) {
            seg.set(I16, 34L * b, Float.floatToFloat16(d));
            MemorySegment.copy(q, b * 32, seg, ValueLayout.JAVA_BYTE, 34L * b + 2, 32);
        }
        return new StoredTensor(name, "test", DType.Q8_0, new long[]{n, k}, seg);
    }

    private static float[] gaussian(Random rnd, int count) {
        float[] v = new float[count];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }
}
