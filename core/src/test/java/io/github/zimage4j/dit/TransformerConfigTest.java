package io.github.zimage4j.dit;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The config reader and the checkpoint check against the real full-size transformer manifest. */
class TransformerConfigTest {

    @TempDir
    Path tmp;

    /** name → shape of a golden manifest.json ({"tensors": [{"name", "shape"}, …]}). */
    static Map<String, long[]> manifest(Path file) throws IOException {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (Object o : (List<?>) Json.parseObject(file).get("tensors")) {
            Map<?, ?> t = (Map<?, ?>) o;
            List<?> shape = (List<?>) t.get("shape");
            out.put((String) t.get("name"), shape.stream().mapToLong(v -> (Long) v).toArray());
        }
        return out;
    }

    @Test
    void realManifestMatchesRealConfig() throws IOException {
        Path dir = Golden.fixture("manifests/case-zimage-real/transformer");
        ZImageTransformerConfig cfg = ZImageTransformerConfig.read(dir.resolve("config.json"));
        assertEquals(3840, cfg.dim());
        assertEquals(10240, cfg.ffnDim());
        assertEquals(128, cfg.headDim());
        Map<String, long[]> found = manifest(dir.resolve("manifest.json"));
        CheckpointCheck.Report report = CheckpointCheck.compare("real transformer", cfg.expectedTensors(), found, List.of());
        assertTrue(report.ok(), report.toString());
        assertEquals(521, found.size());
        long params = found.values().stream().mapToLong(s -> {
            long n = 1;
            for (long d : s) {
                n *= d;
            }
            return n;
        }).sum();
        assertEquals(6_154_908_736L, params);
    }

    /** The FLOP model agrees with the independent one in shared/perf-probes/flops.py (performance-anchors §4). */
    @Test
    void forwardFlopsMatchThePublishedModel() {
        ZImageTransformerConfig cfg = ZImageTransformerConfig.published();
        assertEquals(3.67e12, cfg.forwardFlops(32, 32, 37), 0.01e12);
        assertEquals(12.90e12, cfg.forwardFlops(64, 64, 37), 0.01e12);
        assertEquals(55.61e12, cfg.forwardFlops(128, 128, 37), 0.01e12);
        assertEquals(59.52e12, cfg.forwardFlops(128, 128, 300), 0.01e12);
    }

    @Test
    void publishedConfigIsTheRealOne() throws IOException {
        Path dir = Golden.fixture("manifests/case-zimage-real/transformer");
        assertEquals(ZImageTransformerConfig.read(dir.resolve("config.json")), ZImageTransformerConfig.published());
    }

    @Test
    void checkListsEveryProblem() throws IOException {
        Path dir = Golden.fixture("manifests/case-zimage-real/transformer");
        ZImageTransformerConfig cfg = ZImageTransformerConfig.read(dir.resolve("config.json"));
        Map<String, long[]> found = manifest(dir.resolve("manifest.json"));
        found.remove("layers.7.feed_forward.w2.weight");
        found.put("layers.3.attention.to_q.weight", new long[]{3840, 3072});
        found.put("norm_final.weight", new long[]{3840});
        CheckpointCheck.Report r = CheckpointCheck.compare("broken", cfg.expectedTensors(), found, List.of());
        assertFalse(r.ok());
        assertEquals(List.of("layers.7.feed_forward.w2.weight"), r.missing());
        assertEquals(List.of("norm_final.weight"), r.unexpected());
        assertEquals(1, r.misShaped().size());
        String text = r.toString();
        assertTrue(text.contains("layers.3.attention.to_q.weight: expected [3840, 3840], found [3840, 3072]"), text);
    }

    @Test
    void configErrorsNameFileAndKey() throws IOException {
        Path f = tmp.resolve("config.json");
        Files.writeString(f, "{\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"norm_eps\": 1e-5, \"cap_feat_dim\": 32,"
                + " \"rope_theta\": 256.0, \"t_scale\": 1000.0, \"axes_dims\": [8, 12, 12], \"axes_lens\": [1536, 512, 512]}");
        JsonConfig.ConfigException e = assertThrows(JsonConfig.ConfigException.class, () -> ZImageTransformerConfig.read(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("n_refiner_layers"), e.getMessage());

        Files.writeString(f, "{\"dim\": \"64\"}");
        e = assertThrows(JsonConfig.ConfigException.class, () -> ZImageTransformerConfig.read(f));
        assertTrue(e.getMessage().contains("\"dim\" should be an integer but is \"64\""), e.getMessage());

        Files.writeString(f, "{\"dim\": 64, \"n_layers\": 2, \"n_refiner_layers\": 1, \"n_heads\": 2, \"norm_eps\": 1e-5,"
                + " \"cap_feat_dim\": 32, \"rope_theta\": 256.0, \"t_scale\": 1000.0, \"axes_dims\": [8, 8, 8],"
                + " \"axes_lens\": [1536, 512, 512]}");
        e = assertThrows(JsonConfig.ConfigException.class, () -> ZImageTransformerConfig.read(f));
        assertTrue(e.getMessage().contains("must sum to the head size 32"), e.getMessage());
    }
}
