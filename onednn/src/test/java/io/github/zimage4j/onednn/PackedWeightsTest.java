package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.RandomCheckpoint;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bf16 weights packed into oneDNN's blocked layout: the same products bit for bit, and when it happens. */
class PackedWeightsTest {

    private static final long GB = 1_000_000_000L;

    @TempDir
    Path tmp;

    private static PackedWeights packing(Prepack mode, long available, long margin, List<String> notices) {
        return new PackedWeights(Dnnl.get(), () -> mode, () -> available, () -> margin, notices::add);
    }

    /**
     * Rows, inputs and outputs of the DiT's products in miniature, with and without bias: the first call
     * multiplies in place, the second packs, the third uses the packed copy; every one equals the
     * in-place product exactly.
     */
    @ParameterizedTest(name = "m={0} k={1} n={2} bias={3}")
    @CsvSource({"37,256,384,true", "300,512,320,false", "8,128,1000,true", "1000,96,200,false", "129,3840,64,true"})
    void packedProductsEqualInPlaceOnesBitForBit(int m, int k, int n, boolean bias) {
        Random rnd = new Random(m * 31L + k);
        Linear layer = new Linear(bf16Weight(Arena.ofAuto(), rnd, n, k), bias ? random(rnd, n) : null);
        float[] x = random(rnd, m * k);
        float[] want = new float[m * n];
        new OneDnnBackend(Dnnl.get(), packing(Prepack.OFF, 0, 0, new ArrayList<>())).linear(x, 0, m, layer, want, 0);
        List<String> notices = new ArrayList<>();
        PackedWeights packed = packing(Prepack.ON, -1, 0, notices);
        OneDnnBackend be = new OneDnnBackend(Dnnl.get(), packed);
        for (int use = 1; use <= 3; use++) {
            float[] got = new float[m * n];
            be.linear(x, 0, m, layer, got, 0);
            assertArrayEquals(want, got, "use " + use);
            assertEquals(use >= 2 ? 1 : 0, packed.packedCount(), "packed copies after use " + use);
        }
        assertEquals(1, notices.size(), notices.toString());
        assertTrue(notices.get(0).startsWith("prepack (on): 1 bf16 weights"), notices.get(0));
        assertTrue(notices.get(0).contains("not file-mapped, so their originals stay resident too"), notices.get(0));
    }

    /**
     * A layer that reuses its weights within a pass (row chunks) prints the first decision at once, then one
     * line for the rest of the pass, not one per weight.
     */
    @Test
    void oneNoticeForTheFirstDecisionThenOnePerPass() {
        Random rnd = new Random(9);
        List<Linear> layers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            layers.add(new Linear(bf16Weight(Arena.ofAuto(), rnd, 64, 128), null));
        }
        List<String> notices = new ArrayList<>();
        OneDnnBackend be = new OneDnnBackend(Dnnl.get(), packing(Prepack.ON, -1, 0, notices));
        float[] x = random(rnd, 16 * 128);
        float[] out = new float[16 * 64];
        for (Linear l : layers) { // pass 1: every weight seen once
            be.linear(x, 0, 16, l, out, 0);
        }
        for (Linear l : layers) { // pass 2: each packed, then reused at once
            be.linear(x, 0, 16, l, out, 0);
            be.linear(x, 0, 16, l, out, 0);
        }
        for (Linear l : layers) { // pass 3: nothing new to report
            be.linear(x, 0, 16, l, out, 0);
        }
        assertEquals(2, notices.size(), "the first decision, then the rest of the pass: " + notices);
        assertTrue(notices.get(0).startsWith("prepack (on): 1 bf16 weights"), notices.get(0));
        assertTrue(notices.get(1).startsWith("prepack (on): 2 bf16 weights"), notices.get(1));
    }

    /** A weight of a memory-mapped checkpoint: packed on reuse, then its whole pages leave the resident set. */
    @Test
    void aMappedWeightIsPackedAndItsPagesReleased() throws IOException {
        int k = 1024;
        int n = 768;
        Path file = tmp.resolve("w.safetensors");
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("a.bias", new long[]{7});
        shapes.put("w", new long[]{n, k});
        RandomCheckpoint.write(file, shapes, DType.BF16, 5);
        Random rnd = new Random(2);
        float[] x = random(rnd, 64 * k);
        List<String> notices = new ArrayList<>();
        try (SafeTensors st = SafeTensors.open(file)) {
            Linear layer = new Linear(st.get("w"), null);
            assertTrue(layer.weight().data().isMapped());
            float[] want = new float[64 * n];
            new OneDnnBackend(Dnnl.get(), packing(Prepack.OFF, 0, 0, new ArrayList<>())).linear(x, 0, 64, layer, want, 0);
            PackedWeights packed = packing(Prepack.AUTO, 100 * GB, 2 * GB, notices);
            OneDnnBackend be = new OneDnnBackend(Dnnl.get(), packed);
            List<WeightPreparation> reports = new ArrayList<>();
            try (WeightPreparation.Subscription s = WeightPreparation.listen(reports::add)) {
                for (int use = 1; use <= 3; use++) {
                    float[] got = new float[64 * n];
                    be.linear(x, 0, 64, layer, got, 0);
                    assertArrayEquals(want, got, "use " + use);
                    assertEquals(use >= 2 ? 1 : 0, reports.size(), "the copy is reported once, when made; after use " + use);
                }
            }
            WeightPreparation copy = reports.getFirst();
            assertEquals(new WeightPreparation("onednn", PackedWeights.WHAT, null, 1, copy.bytes(), copy.seconds()), copy);
            assertTrue(copy.bytes() >= 2L * k * n && copy.seconds() > 0, copy.toString());
            long weightBytes = 2L * k * n;
            // The tensor starts past the header and a small bias: its first and last partial pages stay.
            assertTrue(packed.releasedBytes() > weightBytes - 2 * 4096 && packed.releasedBytes() <= weightBytes,
                    "released " + packed.releasedBytes() + " of " + weightBytes);
        }
        assertEquals(1, notices.size(), notices.toString());
        assertTrue(notices.get(0).matches("prepack \\(auto: 100\\.00 GB available, margin 2\\.00 GB\\): 1 bf16 weights \\(0\\.00 GB\\) "
                + "copied into oneDNN's blocked layout in \\d+\\.\\d s, their mapped pages \\(0\\.00 GB\\) dropped from the resident set"),
                notices.get(0));
        assertFalse(notices.get(0).contains("not file-mapped"), notices.get(0));
    }

    @Test
    void autoLeavesWeightsInPlaceWhenMemoryIsShort() {
        Random rnd = new Random(4);
        int k = 256;
        int n = 256;
        Linear layer = new Linear(bf16Weight(Arena.ofAuto(), rnd, n, k), null);
        float[] x = random(rnd, 16 * k);
        List<String> notices = new ArrayList<>();
        long weightBytes = 2L * k * n;
        PackedWeights packed = packing(Prepack.AUTO, 2 * GB + weightBytes - 1, 2 * GB, notices);
        OneDnnBackend be = new OneDnnBackend(Dnnl.get(), packed);
        for (int use = 1; use <= 3; use++) {
            be.linear(x, 0, 16, layer, new float[16 * n], 0);
        }
        assertEquals(0, packed.packedCount());
        assertEquals(List.of("prepack (auto: 2.00 GB available, margin 2.00 GB): 1 bf16 weights (0.00 GB) used in place: "
                + "not enough memory for a packed copy"), notices);
    }

    @Test
    void theDecisionFollowsTheAvailableMemory() {
        long margin = 6 * GB;
        assertTrue(PackedWeights.decide(Prepack.AUTO, 12 * GB, 18 * GB, margin), "exactly enough");
        assertFalse(PackedWeights.decide(Prepack.AUTO, 12 * GB, 18 * GB - 1, margin), "a byte short");
        assertFalse(PackedWeights.decide(Prepack.AUTO, 1, -1, margin), "unknown memory: in place");
        assertTrue(PackedWeights.decide(Prepack.ON, 12 * GB, 1 * GB, margin), "on packs regardless");
        assertFalse(PackedWeights.decide(Prepack.OFF, 1, 100 * GB, margin), "off never packs");
        assertTrue(PackedWeights.margin() >= PackedWeights.MARGIN_BYTES);
    }

    @Test
    void memAvailableIsReadFromMeminfo() {
        String meminfo = """
                MemTotal:       24683748 kB
                MemFree:        16351160 kB
                MemAvailable:   23988668 kB
                Buffers:          263292 kB
                """;
        assertEquals(23988668L * 1024, PackedWeights.memAvailable(meminfo));
        assertEquals(-1, PackedWeights.memAvailable("MemTotal: 100 kB\n"));
    }

    /** Closing a weight's memory drops its packed copy: a new tensor at the same address must not get it. */
    @Test
    void aFreedWeightLosesItsPackedCopy() {
        Random rnd = new Random(6);
        PackedWeights packed = packing(Prepack.ON, -1, 0, new ArrayList<>());
        OneDnnBackend be = new OneDnnBackend(Dnnl.get(), packed);
        float[] x = random(rnd, 16 * 128);
        try (Arena a = Arena.ofShared()) {
            Linear layer = new Linear(bf16Weight(a, rnd, 64, 128), null);
            be.linear(x, 0, 16, layer, new float[16 * 64], 0);
            be.linear(x, 0, 16, layer, new float[16 * 64], 0);
            assertEquals(1, packed.packedCount());
        }
        Linear other = new Linear(bf16Weight(Arena.ofAuto(), rnd, 64, 128), null);
        be.linear(x, 0, 16, other, new float[16 * 64], 0);
        assertEquals(0, packed.packedCount(), "the closed weight's copy is gone");
    }

    @Test
    void modesParse() {
        assertEquals(Prepack.AUTO, Prepack.parse("auto"));
        assertEquals(Prepack.ON, Prepack.parse(" ON "));
        assertEquals(Prepack.OFF, Prepack.parse("off"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Prepack.parse("yes"));
        assertTrue(e.getMessage().contains("auto, on or off") && e.getMessage().contains("'yes'"), e.getMessage());
        assertNull(System.getProperty(Prepack.PROPERTY));
        assertEquals(Prepack.AUTO, Prepack.current(), "the default");
    }

    static StoredTensor bf16Weight(Arena arena, Random rnd, int n, int k) {
        MemorySegment data = arena.allocate(2L * n * k, 64);
        for (long i = 0; i < (long) n * k; i++) {
            data.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, FloatFormats.floatToBf16((float) (rnd.nextGaussian() / Math.sqrt(k))));
        }
        return new StoredTensor("w", "memory", DType.BF16, new long[]{n, k}, data);
    }

    static float[] random(Random rnd, int count) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
