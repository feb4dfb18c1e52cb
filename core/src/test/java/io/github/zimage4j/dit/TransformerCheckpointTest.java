package io.github.zimage4j.dit;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layout detection and config derivation on the real tensor manifest and on hand-made sources. */
class TransformerCheckpointTest {

    @Test
    void theRealManifestImpliesThePublishedConfig() throws IOException {
        Path dir = Golden.root().resolve("manifests/case-zimage-real/transformer");
        Map<String, long[]> shapes = TransformerConfigTest.manifest(dir.resolve("manifest.json"));
        ZImageTransformerConfig derived = TransformerCheckpoint.deriveConfig(shapes, "real manifest");
        assertEquals(ZImageTransformerConfig.read(dir.resolve("config.json")), derived);
    }

    /** A source of tiny F32 tensors with these names and shapes. */
    static TensorSource source(Map<String, long[]> shapes) {
        Map<String, StoredTensor> t = new TreeMap<>();
        shapes.forEach((n, s) -> t.put(n, new StoredTensor(n, "test.safetensors", DType.F32, s,
                MemorySegment.ofArray(new float[(int) StoredTensor.numel(s)]))));
        return new TensorSource() {
            public String description() {
                return "test.safetensors";
            }

            public Set<String> names() {
                return t.keySet();
            }

            public StoredTensor find(String name) {
                return t.get(name);
            }

            public void close() {
            }
        };
    }

    @Test
    void anUnknownLayoutListsTheNamesItCouldNotPlace() {
        Map<String, long[]> shapes = new TreeMap<>();
        shapes.put("diffusion_model.blocks.0.attn.weight", new long[]{4, 4});
        shapes.put("cap_embedder.0.weight", new long[]{4});
        ModelFileException e = assertThrows(ModelFileException.class, () -> TransformerCheckpoint.detect(source(shapes)));
        assertTrue(e.getMessage().contains("diffusion_model.blocks.0.attn.weight")
                && !e.getMessage().contains("cap_embedder"), e.getMessage());
    }

    @Test
    void mixedLayoutsAndAMisShapedQkvAreRefused() {
        Map<String, long[]> mixed = new TreeMap<>();
        mixed.put("layers.0.attention.qkv.weight", new long[]{12, 4});
        mixed.put("layers.1.attention.to_q.weight", new long[]{4, 4});
        assertThrows(ModelFileException.class, () -> TransformerCheckpoint.detect(source(mixed)));
        Map<String, long[]> bad = new TreeMap<>();
        bad.put("layers.0.attention.qkv.weight", new long[]{10, 4});
        ModelFileException e = assertThrows(ModelFileException.class, () -> TransformerCheckpoint.inDiffusersNames(source(bad)));
        assertTrue(e.getMessage().contains("qkv") && e.getMessage().contains("[10, 4]"), e.getMessage());
    }
}
