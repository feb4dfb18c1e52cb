package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.io.JsonConfig.ConfigException;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading the real config keys, refusing what the encoder does not implement, and the real tensor manifest. */
class Qwen3ConfigTest {

    @TempDir
    Path tmp;

    static Path realTextEncoder() {
        return Golden.fixture("manifests/case-zimage-real/text_encoder");
    }

    /** The real manifest's name → shape. */
    static Map<String, long[]> manifestShapes() throws IOException {
        Map<String, Object> manifest = Json.parseObject(realTextEncoder().resolve("manifest.json"));
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Object o : (List<?>) manifest.get("tensors")) {
            Map<?, ?> t = (Map<?, ?>) o;
            List<?> dims = (List<?>) t.get("shape");
            shapes.put((String) t.get("name"), dims.stream().mapToLong(d -> (Long) d).toArray());
        }
        return shapes;
    }

    @Test
    void realManifestMatchesItsConfig() throws IOException {
        Qwen3Config cfg = Qwen3Config.read(realTextEncoder().resolve("config.json"));
        Map<String, long[]> manifest = manifestShapes();
        assertEquals(398, manifest.size(), "the real manifest lists 36 layers × 11 + embeddings + norm");
        CheckpointCheck.Report report = CheckpointCheck.compare("real text_encoder manifest", cfg.expectedTensors(), manifest, List.of());
        assertTrue(report.ok(), report.toString());
        assertEquals(398, cfg.expectedTensors().size());
        long params = cfg.expectedTensors().values().stream()
                .mapToLong(s -> java.util.Arrays.stream(s).reduce(1, Math::multiplyExact)).sum();
        assertEquals(4_022_468_096L, params, "Qwen3-4B parameter count (spec §2.3)");
    }

    @Test
    void realConfigIsTheBuiltInQwen3_4b() throws IOException {
        Qwen3Config cfg = Qwen3Config.read(realTextEncoder().resolve("config.json"));
        assertEquals(Qwen3Config.QWEN3_4B, cfg);
        assertEquals(128, cfg.headDim());
        assertEquals(4096, cfg.qDim(), "query width differs from hidden_size");
        assertEquals(1024, cfg.kvDim());
        assertEquals(1e6, cfg.ropeTheta());
    }

    @Test
    void goldenCaseConfigHasExplicitHeadDim() throws IOException {
        Qwen3Config cfg = Qwen3Config.read(Golden.fixture("text_encoder/case-gqa-padded-batch3/config.json"));
        assertEquals(32, cfg.headDim(), "head_dim 32 ≠ hidden 64 / 4 heads");
        assertEquals(2, cfg.numKeyValueHeads());
        assertEquals(2 + 3 * 11, cfg.expectedTensors().size());
    }

    /** The real config with one change, read back. */
    Qwen3Config readEdited(Consumer<Map<String, Object>> edit) throws IOException {
        Map<String, Object> map = Json.parseObject(realTextEncoder().resolve("config.json"));
        edit.accept(map);
        Path f = Files.createTempFile(tmp, "config", ".json");
        Files.writeString(f, Json.write(map));
        return Qwen3Config.read(f);
    }

    void assertRefused(Consumer<Map<String, Object>> edit, String... mentions) {
        ConfigException e = assertThrows(ConfigException.class, () -> readEdited(edit));
        for (String m : mentions) {
            assertTrue(e.getMessage().contains(m), "message should mention '" + m + "': " + e.getMessage());
        }
        assertTrue(e.getMessage().contains("config"), "message should name the file: " + e.getMessage());
    }

    @Test
    void refusesWhatTheEncoderDoesNotImplement() {
        assertRefused(m -> m.put("hidden_act", "gelu"), "hidden_act", "gelu", "silu");
        assertRefused(m -> m.put("attention_bias", true), "attention_bias");
        assertRefused(m -> m.put("rope_scaling", Map.of("rope_type", "yarn", "factor", 4.0)), "rope_scaling");
        assertRefused(m -> m.put("use_sliding_window", true), "use_sliding_window");
        assertRefused(m -> m.put("model_type", "qwen2"), "model_type", "qwen2");
        assertRefused(m -> m.put("layer_types", List.of("full_attention", "sliding_attention")), "layer_types");
    }

    @Test
    void refusesMissingOrInconsistentSizes() {
        assertRefused(m -> m.remove("hidden_size"), "hidden_size");
        assertRefused(m -> m.put("num_hidden_layers", "36"), "num_hidden_layers", "integer");
        assertRefused(m -> m.put("num_key_value_heads", 5L), "num_attention_heads 32", "num_key_value_heads 5");
        assertRefused(m -> m.put("head_dim", 127L), "head_dim 127");
        assertRefused(m -> m.remove("rope_theta"), "rope_theta");
        assertRefused(m -> m.put("rms_norm_eps", 0.0), "rms_norm_eps");
    }

    @Test
    void readsTransformers5RopeParameters() throws IOException {
        Qwen3Config cfg = readEdited(m -> {
            m.remove("rope_theta");
            m.put("rope_parameters", Map.of("rope_type", "default", "rope_theta", 5e5));
        });
        assertEquals(5e5, cfg.ropeTheta());
        assertRefused(m -> {
            m.remove("rope_theta");
            m.put("rope_parameters", Map.of("rope_type", "linear", "rope_theta", 5e5));
        }, "rope_type", "linear");
    }

    @Test
    void headDimDefaultsToHiddenOverHeadsAsTransformersDoes() throws IOException {
        Qwen3Config cfg = readEdited(m -> m.remove("head_dim"));
        assertEquals(2560 / 32, cfg.headDim());
        assertFalse(cfg.equals(Qwen3Config.QWEN3_4B));
    }

    @Test
    void jsonConfigSourceIsInMessages() {
        JsonConfig c = new JsonConfig("somewhere/config.json", new LinkedHashMap<>(Map.of("hidden_act", "relu")));
        ConfigException e = assertThrows(ConfigException.class, () -> Qwen3Config.from(c));
        assertTrue(e.getMessage().startsWith("somewhere/config.json: "), e.getMessage());
    }
}
