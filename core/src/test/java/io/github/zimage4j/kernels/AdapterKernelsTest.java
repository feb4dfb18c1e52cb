package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The run-time adapter product on every weight dtype, quantized included: {@code linear} with adapters equals
 * the plain product plus {@code s·(x·Aᵀ)·Bᵀ} computed in float64, whatever the weight's storage.
 */
class AdapterKernelsTest {

    private static StoredTensor f32(String name, Random rnd, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return new StoredTensor(name, "test", DType.F32, new long[]{rows, cols}, MemorySegment.ofArray(v));
    }

    private static void check(StoredTensor weight) {
        Random rnd = new Random(11);
        int out = (int) weight.dim(0);
        int in = (int) weight.dim(1);
        int rows = 70; // past the dot-product path of the GEMM
        Adapter.LowRank a1 = new Adapter.LowRank(f32("down1", rnd, 4, in), f32("up1", rnd, out, 4), 0.37f);
        Adapter.LowRank a2 = new Adapter.LowRank(f32("down2", rnd, 2, in), f32("up2", rnd, out, 2), -1.25f);
        float[] x = new float[3 + rows * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] plain = new float[rows * out];
        JavaBackend.INSTANCE.linear(x, 3, rows, new Linear(weight, null), plain, 0);
        float[] got = new float[5 + rows * out];
        JavaBackend.INSTANCE.linear(x, 3, rows, new Linear(weight, null, List.of(a1, a2)), got, 5);
        float[] want = plain.clone();
        for (Adapter.LowRank a : List.of(a1, a2)) {
            float[] d = a.down().toFloats();
            float[] u = a.up().toFloats();
            int r = a.rank();
            for (int row = 0; row < rows; row++) {
                double[] t = new double[r];
                for (int j = 0; j < r; j++) {
                    for (int c = 0; c < in; c++) {
                        t[j] += (double) x[3 + row * in + c] * d[j * in + c];
                    }
                }
                for (int o = 0; o < out; o++) {
                    double s = 0;
                    for (int j = 0; j < r; j++) {
                        s += t[j] * u[o * r + j];
                    }
                    want[row * out + o] += (float) (a.scale() * s);
                }
            }
        }
        Compare.allClose(weight.dtype() + " weight with adapters", want, 0, got, 5, rows * out, 1e-3, 1e-4);
        assertTrue(Compare.relativeError(plain, want) > 1e-2, "the adapters change the product");
    }

    @Test
    void addsTheLowRankProductOnFloatWeights() {
        check(f32("w", new Random(3), 96, 80));
    }

    @Test
    void addsTheLowRankProductOnQuantizedWeights() throws IOException {
        try (Gguf g = Gguf.open(Golden.fixture("gguf/case-model-q8_0/z_image_tiny-Q8_0.gguf"))) {
            StoredTensor q = g.names().stream().sorted().map(g::find)
                    .filter(t -> t.dtype().isQuantized() && t.rank() == 2).findFirst().orElseThrow();
            check(q);
            assertThrows(IllegalArgumentException.class, () -> AdapterMerge.merged(q, List.of()),
                    "a quantized weight is never merged");
        }
    }
}
