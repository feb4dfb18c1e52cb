package io.github.zimage4j.random;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every tensor of golden/rng, and every seeded draw the pipeline goldens recorded, reproduced by
 * {@link TorchGenerator}.
 *
 * <p>Tolerance: meta.json asks for bitwise equality below 16 values and for {@code rand}, and allows ~1e-6
 * for float32 {@code randn} of 16 or more (its AVX2 kernel's approximate log/sin/cos). The generator
 * reproduces that kernel, so float32 is checked bitwise throughout. float64 {@code randn} uses libm's
 * double log/sin/cos, which {@link StrictMath} matches to an ulp: those entries allow 1 ulp.
 */
class TorchGeneratorGoldenTest {

    private static final Pattern KEY = Pattern.compile("(randn_f32|randn_f64|rand_f32|seq)\\.seed(\\d+)\\.(.+)");

    @TestFactory
    Stream<DynamicTest> rngEntries() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : Golden.cases("rng")) {
            List<String> names;
            try (SafeTensors st = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
                names = st.names().stream().sorted().toList();
            }
            assertFalse(names.isEmpty(), dir + "/outputs.safetensors holds no draw");
            for (String name : names) {
                tests.add(DynamicTest.dynamicTest(dir.getFileName() + " " + name, () -> checkEntry(dir, name)));
            }
        }
        return tests.stream();
    }

    private static void checkEntry(Path dir, String name) throws IOException {
        Matcher m = KEY.matcher(name);
        assertTrue(m.matches(), "unexpected entry " + name);
        long seed = Long.parseLong(m.group(2));
        try (SafeTensors st = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            StoredTensor expected = st.get(name);
            int n = Math.toIntExact(expected.numel());
            TorchGenerator g = new TorchGenerator(seed);
            switch (m.group(1)) {
                case "randn_f32" -> {
                    Tensor t = g.randn(intShape(expected));
                    assertArrayEquals(intShape(expected), t.shape());
                    Compare.allClose(name, expected.toFloats(), t.data(), 0, 0);
                }
                case "rand_f32" -> Compare.allClose(name, expected.toFloats(), g.rand(n).data(), 0, 0);
                case "randn_f64" -> {
                    double[] actual = g.randnDouble(n);
                    for (int i = 0; i < n; i++) {
                        double e = expected.data().getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i);
                        assertEquals(e, actual[i], Math.ulp(e), name + "[" + i + "]");
                    }
                }
                case "seq" -> {
                    // g = Generator().manual_seed(seed); randn(7, g); randn(17, g); randn(3, g)
                    int call = Integer.parseInt(m.group(3).substring("call".length()));
                    float[] out = null;
                    for (int c = 0; c <= call; c++) {
                        out = g.randn(new int[]{7, 17, 3}[c]).data();
                    }
                    Compare.allClose(name, expected.toFloats(), out, 0, 0);
                }
                default -> throw new AssertionError(name);
            }
        }
    }

    /**
     * The seeded draws of every recorded pipeline: text-to-image and ControlNet draw {@code latents_init};
     * image-to-image draws the VAE posterior noise and then the latent noise (inpainting a third, for the
     * masked image), all from one generator.
     */
    @TestFactory
    Stream<DynamicTest> pipelineDraws() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String section : List.of("pipeline", "img2img", "inpaint", "controlnet")) {
            for (Path dir : Golden.cases(section)) {
                if (!dir.resolve("inputs.safetensors").toFile().isFile() || !Golden.meta(dir).containsKey("seed")) {
                    continue; // component folders and single-forward ControlNet cases draw nothing
                }
                tests.add(DynamicTest.dynamicTest(section + "/" + dir.getFileName(), () -> checkDraws(dir)));
            }
        }
        return Golden.atLeastOne(tests, "seeded pipeline case").stream();
    }

    @SuppressWarnings("unchecked")
    private static void checkDraws(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        List<String> draws = List.of("latents_init");
        if (meta.get("random_draws") instanceof Map<?, ?> rd && rd.containsKey("names_in_inputs")) {
            draws = (List<String>) rd.get("names_in_inputs");
            assertEquals(Boolean.TRUE, rd.get("all_from_one_generator_in_this_order"));
        }
        TorchGenerator g = new TorchGenerator(((Number) meta.get("seed")).longValue());
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            for (String name : draws) {
                StoredTensor expected = in.get(name);
                Tensor drawn = g.randn(intShape(expected));
                Compare.allClose(name + " (draw " + draws.indexOf(name) + ")", expected.toFloats(), drawn.data(), 0, 0);
            }
        }
    }

    @Test
    void seedsAgreeingModulo2To32GiveTheSameStream() {
        float[] a = new TorchGenerator(42).randn(100).data();
        float[] b = new TorchGenerator(42 + (1L << 32)).randn(100).data();
        float[] c = new TorchGenerator(43).randn(100).data();
        assertArrayEquals(a, b);
        assertTrue(!Arrays.equals(a, c));
    }

    @Test
    void manualSeedRestartsTheStreamAndDropsTheCachedNormal() {
        TorchGenerator g = new TorchGenerator(7);
        float[] first = g.randn(3).data(); // leaves one cached normal
        g.manualSeed(7);
        assertArrayEquals(first, g.randn(3).data());
        assertEquals(7, g.initialSeed());
    }

    private static int[] intShape(StoredTensor t) {
        return Arrays.stream(t.shape()).mapToInt(Math::toIntExact).toArray();
    }
}
