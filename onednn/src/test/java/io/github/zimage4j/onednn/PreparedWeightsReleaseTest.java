package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.tensor.Linear;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link OneDnnBackend#releasePreparedWeights}: a one-shot run frees the int8 rows and packed copies before
 * its decode. Freed means the memory is gone and the layer still multiplies: as stored until prepared again,
 * then exactly as before.
 */
class PreparedWeightsReleaseTest {

    private static final int M = 40;
    private static final int K = 160;
    private static final int N = 96;

    @Test
    void int8RowsAreFreedAndConvertedAgainToTheSameProducts() {
        OneDnnBackend backend = new OneDnnBackend(Dnnl.get());
        assumeTrue(Int8Matmul.hasInt8Units(Dnnl.get()), "this CPU has no int8 units: nothing is converted");
        Random rnd = new Random(3);
        Arena arena = Arena.ofShared();
        Linear layer = new Linear(Int8LinearTest.gaussianQ8(arena, rnd, N, K), PackedWeightsTest.random(rnd, N));
        float[] x = PackedWeightsTest.random(rnd, M * K);

        WeightPreparation first = backend.prepareWeights(List.of(layer));
        assertEquals(1, first.tensors());
        float[] converted = product(backend, layer, x);

        long freed = backend.releasePreparedWeights(List.of(layer));
        assertEquals(first.bytes(), freed, "the bytes the conversion reported");
        assertEquals(0, backend.releasePreparedWeights(List.of(layer)), "nothing left to free");
        float[] asStored = product(backend, layer, x);
        assertFalse(java.util.Arrays.equals(converted, asStored), "after release the Q8_0 weight is decoded, not int8-multiplied");

        WeightPreparation again = backend.prepareWeights(List.of(layer));
        assertEquals(1, again.tensors(), "converted again");
        assertArrayEquals(converted, product(backend, layer, x), "the same bytes as the first conversion");
        arena.close();
    }

    @Test
    void packedCopiesAreFreedAndThenPackedAnew() {
        List<String> notices = new ArrayList<>();
        PackedWeights packed = new PackedWeights(Dnnl.get(), () -> Prepack.ON, () -> -1, () -> 0, notices::add);
        OneDnnBackend backend = new OneDnnBackend(Dnnl.get(), packed);
        Random rnd = new Random(4);
        Linear layer = new Linear(PackedWeightsTest.bf16Weight(Arena.ofAuto(), rnd, N, K), null);
        float[] x = PackedWeightsTest.random(rnd, M * K);

        float[] inPlace = product(backend, layer, x);
        assertArrayEquals(inPlace, product(backend, layer, x), "second use: packed");
        assertEquals(1, packed.packedCount());

        long freed = backend.releasePreparedWeights(List.of(layer));
        assertTrue(freed >= 2L * N * K, "at least the weight's bf16 bytes, got " + freed);
        assertEquals(0, packed.packedCount(), "the copy is gone");
        assertArrayEquals(inPlace, product(backend, layer, x), "first use after release: in place");
        assertEquals(0, packed.packedCount());
        assertArrayEquals(inPlace, product(backend, layer, x), "second use after release: packed anew");
        assertEquals(1, packed.packedCount());
    }

    private static float[] product(OneDnnBackend backend, Linear layer, float[] x) {
        float[] out = new float[M * N];
        backend.linear(x, 0, M, layer, out, 0);
        return out;
    }
}
