package io.github.zimage4j.controlnet;

import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layout detection from the weights alone (spec §10.2) and clear errors for files that do not fit. */
class ControlNetLoadingTest {

    static Path components() {
        return Golden.root().resolve("controlnet/case-components");
    }

    static ZImageTransformerConfig transformerConfig() throws Exception {
        return ZImageTransformerConfig.read(components().resolve("transformer/config.json"));
    }

    /** A view of another source: some tensors hidden, one replaced by zeros. */
    record Edited(TensorSource base, Predicate<String> hidden, String zeroed) implements TensorSource {
        @Override
        public String description() {
            return base.description() + " (edited)";
        }

        @Override
        public Set<String> names() {
            Set<String> n = new LinkedHashSet<>();
            base.names().stream().filter(hidden.negate()).forEach(n::add);
            return n;
        }

        @Override
        public StoredTensor find(String name) {
            if (hidden.test(name)) {
                return null;
            }
            StoredTensor t = base.find(name);
            if (t != null && name.equals(zeroed)) {
                long bytes = StoredTensor.numel(t.shape()) * 4;
                return new StoredTensor(name, "zeros", DType.F32, t.shape(), Arena.ofAuto().allocate(bytes));
            }
            return t;
        }

        @Override
        public void close() {
        }
    }

    @Test
    void layoutsFromTheWeightsAlone() throws Exception {
        ZImageTransformerConfig cfg = transformerConfig();
        try (SafeTensors v21 = SafeTensors.open(components().resolve("controlnet-union2.1/model.safetensors"));
             SafeTensors v10 = SafeTensors.open(components().resolve("controlnet-union1.0/model.safetensors"))) {
            ZImageControlNet a = new ZImageControlNet(v10, null, cfg);
            assertEquals("Union 1.0", a.describeLayout());
            assertEquals(16, a.controlInDim());
            assertFalse(a.supportsInpaint());
            // Places derived as one every nLayers/count layers equal the file's config: [0, 2] of 4 layers.
            assertArrayEquals(new int[]{0, 2}, a.places());

            ZImageControlNet b = new ZImageControlNet(v21, null, cfg);
            assertEquals("Union 2.1", b.describeLayout());
            assertEquals(ZImageControlNet.RefinerKind.CONTROL_NOISE_REFINER, b.refinerKind());
            assertEquals(33, b.controlInDim());

            // 2.0: control_noise_refiner.0.before_proj all zeros, or no refiner blocks at all.
            ZImageControlNet zeroed = new ZImageControlNet(new Edited(v21, n -> false, "control_noise_refiner.0.before_proj.weight"), null, cfg);
            assertEquals("Union 2.0", zeroed.describeLayout());
            assertEquals(ZImageControlNet.RefinerKind.CONTROL_LAYERS, zeroed.refinerKind());
            ZImageControlNet absent = new ZImageControlNet(new Edited(v21, n -> n.startsWith("control_noise_refiner."), null), null, cfg);
            assertEquals("Union 2.0", absent.describeLayout());

            // Lite: 2.x with hints sparser than every second layer (here 1 block for 4 layers).
            ZImageControlNet lite = new ZImageControlNet(new Edited(v21, n -> n.startsWith("control_layers.1."), null), null, cfg);
            assertTrue(lite.lite());
            assertEquals("Union 2.1 Lite", lite.describeLayout());
            assertArrayEquals(new int[]{0}, lite.places());
        }
    }

    @Test
    void configFolderLoads() throws Exception {
        try (ZImageControlNet c = ZImageControlNet.load(components().resolve("controlnet-union2.1"), transformerConfig())) {
            assertEquals("Union 2.1", c.describeLayout());
            assertArrayEquals(new int[]{0, 2}, c.places());
        }
    }

    @Test
    void aControlNetForAnotherTransformerWidth() throws Exception {
        // The component cases' ControlNet is for a dim-32 transformer; the pipeline cases' transformer has dim 64.
        Path narrow = Golden.root().resolve("controlnet/case-union2.1-forward/controlnet");
        ModelFileException e = assertThrows(ModelFileException.class, () -> ZImageControlNet.load(narrow, transformerConfig()));
        assertTrue(e.getMessage().contains("width 32") && e.getMessage().contains("dim 64") && e.getMessage().contains(narrow.toString()),
                e.getMessage());
    }

    @Test
    void hintsAfterLayersTheTransformerDoesNotHave() throws Exception {
        // Places [0, 2] need at least 3 main layers; the pipeline/ transformer (same dim 64) has 2.
        ZImageTransformerConfig twoLayers = ZImageTransformerConfig.read(Golden.root().resolve("pipeline/case-components/transformer/config.json"));
        assertEquals(2, twoLayers.nLayers());
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> ZImageControlNet.load(components().resolve("controlnet-union2.1"), twoLayers));
        assertTrue(e.getMessage().contains("after main layer 2") && e.getMessage().contains("has 2 layers"), e.getMessage());
    }

    @Test
    void notAControlNet() throws Exception {
        Path transformer = components().resolve("transformer");
        ModelFileException e = assertThrows(ModelFileException.class, () -> ZImageControlNet.load(transformer, transformerConfig()));
        assertTrue(e.getMessage().contains("is not a Z-Image ControlNet"), e.getMessage());
    }
}
