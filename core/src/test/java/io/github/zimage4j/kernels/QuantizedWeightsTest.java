package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The kernels' in-GEMM decoding of every ggml block type (the vectorized Q8_0 / Q4_K paths included)
 * against gguf-py's dequantized values, bit for bit: whole tensors, runs that start and end inside a block,
 * and a product through the GEMM's both paths, which must equal the product with the expected values stored
 * as F32.
 */
class QuantizedWeightsTest {

    private static final Path CASE = Golden.root().resolve("gguf/case-tensors-alltypes");

    @TestFactory
    Stream<DynamicTest> everyTensorOfTheAllTypesCase() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        try (Gguf g = Gguf.open(CASE.resolve("tensors-alltypes.gguf"))) {
            for (String name : g.names()) {
                tests.add(DynamicTest.dynamicTest(name, () -> check(name)));
            }
        }
        return tests.stream();
    }

    private static void check(String name) throws Exception {
        try (Gguf g = Gguf.open(CASE.resolve("tensors-alltypes.gguf"));
             SafeTensors expected = SafeTensors.open(CASE.resolve("expected.safetensors"))) {
            StoredTensor w = g.get(name);
            float[] want = expected.get(name).toFloats();
            int n = want.length;
            float[] got = new float[n + 3];
            WeightRows.decode(w, 0, n, got, 3);
            same(name + " whole", want, 0, got, 3, n);
            Random rnd = new Random(name.hashCode());
            for (int trial = 0; trial < 20; trial++) {
                int start = rnd.nextInt(n);
                int count = rnd.nextInt(n - start) + 1;
                float[] part = new float[count];
                WeightRows.decode(w, start, count, part, 0);
                same(name + " [" + start + ", " + (start + count) + ")", want, start, part, 0, count);
            }
            if (w.rank() == 2) {
                gemmMatches(w, want);
            }
        }
    }

    /** The product with the quantized weight equals the product with its dequantized values as F32. */
    private static void gemmMatches(StoredTensor w, float[] values) {
        int n = (int) w.dim(0);
        int k = (int) w.dim(1);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(values.length * 4L);
            MemorySegment.copy(values, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values.length);
            StoredTensor f32 = new StoredTensor("f32", "test", DType.F32, new long[]{n, k}, seg);
            Random rnd = new Random(7);
            for (int m : new int[]{3, 70}) {
                float[] a = new float[m * k];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) rnd.nextGaussian();
                }
                float[] c1 = new float[m * n];
                float[] c2 = new float[m * n];
                Gemm.matmul(a, 0, m, k, w, null, c1, 0);
                Gemm.matmul(a, 0, m, k, f32, null, c2, 0);
                same(w.name() + " GEMM m=" + m, c2, 0, c1, 0, c1.length);
            }
        }
    }

    private static void same(String what, float[] want, int wOff, float[] got, int gOff, int n) {
        for (int i = 0; i < n; i++) {
            if (Float.floatToRawIntBits(want[wOff + i]) != Float.floatToRawIntBits(got[gOff + i])) {
                fail(what + ": element " + (wOff + i) + " expected " + want[wOff + i] + ", got " + got[gOff + i]);
            }
        }
    }
}
