package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GEMM against a float64 reference, on every code path: small-m dot products, full tiles, edges, dtypes. */
class GemmTest {

    static Stream<Arguments> shapes() {
        return Stream.of(
                Arguments.of(1, 7, 5), Arguments.of(4, 256, 64), Arguments.of(5, 33, 17), Arguments.of(8, 160, 36),
                Arguments.of(47, 100, 50), Arguments.of(48, 70, 64),
                Arguments.of(6, 64, 64), Arguments.of(13, 170, 64), Arguments.of(37, 64, 170),
                Arguments.of(64, 300, 129), Arguments.of(200, 129, 257), Arguments.of(97, 1000, 70));
    }

    static Stream<Arguments> shapesAndDtypes() {
        return shapes().flatMap(a -> Stream.of(DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2)
                .map(d -> Arguments.of(a.get()[0], a.get()[1], a.get()[2], d)));
    }

    /** A weight [n, k] stored in dtype, plus the exact float values it decodes to. */
    record Weight(StoredTensor stored, float[] values) {
    }

    static Weight weight(int n, int k, DType dtype, Random rnd) {
        ByteBuffer bb = ByteBuffer.allocate(n * k * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[n * k];
        for (int i = 0; i < n * k; i++) {
            float v = (float) (rnd.nextGaussian() * 0.5);
            switch (dtype) {
                case F32 -> { bb.putFloat(v); values[i] = v; }
                case BF16 -> { short b = FloatFormats.floatToBf16(v); bb.putShort(b); values[i] = FloatFormats.bf16ToFloat(b); }
                case F16 -> { short h = Float.floatToFloat16(v); bb.putShort(h); values[i] = Float.float16ToFloat(h); }
                case F8_E4M3, F8_E5M2 -> {
                    byte b = (byte) rnd.nextInt(256);
                    float f = dtype == DType.F8_E4M3 ? FloatFormats.f8e4m3ToFloat(b) : FloatFormats.f8e5m2ToFloat(b);
                    if (!Float.isFinite(f) || Math.abs(f) > 1000) {
                        b = 0;
                        f = 0;
                    }
                    bb.put(b);
                    values[i] = f;
                }
                default -> throw new IllegalArgumentException();
            }
        }
        return new Weight(new StoredTensor("w", "test", dtype, new long[]{n, k}, MemorySegment.ofArray(bb.array())), values);
    }

    @ParameterizedTest(name = "m={0} k={1} n={2} {3}")
    @MethodSource("shapesAndDtypes")
    void matchesFloat64Reference(int m, int k, int n, DType dtype) {
        Random rnd = new Random(m * 1000003L + k * 1009L + n + dtype.ordinal());
        Weight w = weight(n, k, dtype, rnd);
        float[] a = new float[m * k + 3];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        float[] bias = new float[n];
        for (int i = 0; i < n; i++) {
            bias[i] = (float) rnd.nextGaussian();
        }
        int aOff = 3;
        int cOff = 5;
        float[] c = new float[cOff + m * n + 2];
        c[0] = 42f;
        c[c.length - 1] = 43f;
        Gemm.matmul(a, aOff, m, k, w.stored(), bias, c, cOff);
        for (int r = 0; r < m; r++) {
            for (int j = 0; j < n; j++) {
                double ref = bias[j];
                double mag = Math.abs(bias[j]);
                for (int p = 0; p < k; p++) {
                    double t = (double) a[aOff + r * k + p] * w.values()[j * k + p];
                    ref += t;
                    mag += Math.abs(t);
                }
                double got = c[cOff + r * n + j];
                assertTrue(Math.abs(got - ref) <= 1e-5 * mag + 1e-6,
                        "C[" + r + "," + j + "] = " + got + ", expected " + ref);
            }
        }
        assertEquals(42f, c[0], "wrote before the output");
        assertEquals(43f, c[c.length - 1], "wrote past the output");
    }

    @ParameterizedTest(name = "m={0} k={1} n={2}")
    @MethodSource("shapes")
    void noBiasAndSameResultForEveryDtypeHoldingTheSameValues(int m, int k, int n) {
        Random rnd = new Random(7);
        Weight bf = weight(n, k, DType.BF16, rnd);
        // The float32 copy of the bf16 values must give the same results: dtype only changes decoding. Not
        // bit for bit: lane sums may be reduced in another order by interpreted and compiled code.
        ByteBuffer bb = ByteBuffer.allocate(n * k * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : bf.values()) {
            bb.putFloat(v);
        }
        StoredTensor f32 = new StoredTensor("w", "test", DType.F32, new long[]{n, k}, MemorySegment.ofArray(bb.array()));
        float[] a = new float[m * k];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        float[] c1 = new float[m * n];
        float[] c2 = new float[m * n];
        Gemm.matmul(a, 0, m, k, bf.stored(), null, c1, 0);
        Gemm.matmul(a, 0, m, k, f32, null, c2, 0);
        for (int i = 0; i < c1.length; i++) {
            assertEquals(c2[i], c1[i], 1e-6f * (1 + Math.abs(c2[i])), "element " + i);
        }
    }
}
