package io.github.zimage4j.vae;

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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The config against the real Z-Image vae/config.json and its tensor manifest; clear errors for bad configs. */
class VaeConfigTest {

    @TempDir
    Path tmp;

    static Path realVae() {
        return Golden.fixture("manifests/case-zimage-real/vae");
    }

    @Test
    void realConfigImpliesExactlyTheRealTensors() throws IOException {
        VaeConfig cfg = VaeConfig.read(realVae().resolve("config.json"));
        Map<String, Object> manifest = Json.parseObject(realVae().resolve("manifest.json"));
        Map<String, long[]> found = new LinkedHashMap<>();
        for (Object o : (List<?>) manifest.get("tensors")) {
            Map<?, ?> t = (Map<?, ?>) o;
            long[] shape = ((List<?>) t.get("shape")).stream().mapToLong(v -> (Long) v).toArray();
            found.put((String) t.get("name"), shape);
        }
        CheckpointCheck.Report report = CheckpointCheck.compare("real vae manifest", cfg.expectedTensors(), found, List.of());
        assertTrue(report.ok(), report.toString());
        long params = cfg.expectedTensors().values().stream()
                .mapToLong(s -> java.util.Arrays.stream(s).reduce(1, Math::multiplyExact)).sum();
        assertEquals(((Number) manifest.get("total_params")).longValue(), params);
        assertEquals(83_819_683L, params);
    }

    @Test
    void realConfigIsTheBuiltInFluxConfig() throws IOException {
        VaeConfig cfg = VaeConfig.read(realVae().resolve("config.json"));
        assertEquals(VaeConfig.flux(), cfg);
        assertEquals(0.3611f, cfg.scalingFactor());
        assertEquals(0.1159f, cfg.shiftFactor());
        assertEquals(8, cfg.downscale());
        assertEquals(512, cfg.midChannels());
    }

    Path variant(String key, Object value) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>(Json.parseObject(realVae().resolve("config.json")));
        if (value == null) {
            m.remove(key);
        } else {
            m.put(key, value);
        }
        Path p = tmp.resolve("config-" + key + ".json");
        Files.writeString(p, Json.write(m));
        return p;
    }

    @Test
    void quantConvsAreRefusedNamingTheKey() throws IOException {
        Path p = variant("use_quant_conv", true);
        JsonConfig.ConfigException e = assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(p));
        assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("use_quant_conv"), e.getMessage());
        Path absent = variant("use_post_quant_conv", null);
        e = assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(absent));
        assertTrue(e.getMessage().contains("use_post_quant_conv is true (or absent"), e.getMessage());
    }

    @Test
    void otherStructuresAreRefusedNamingTheKey() throws IOException {
        Path act = variant("act_fn", "gelu");
        assertTrue(assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(act)).getMessage().contains("act_fn"));
        Path up = variant("up_block_types", List.of("UpDecoderBlock2D", "UpDecoderBlock2D"));
        String msg = assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(up)).getMessage();
        assertTrue(msg.contains("up_block_types should be 4 × \"UpDecoderBlock2D\""), msg);
        Path missing = variant("latent_channels", null);
        msg = assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(missing)).getMessage();
        assertTrue(msg.contains(missing.toString()) && msg.contains("missing key \"latent_channels\""), msg);
        Path groups = variant("norm_num_groups", 48);
        msg = assertThrows(JsonConfig.ConfigException.class, () -> VaeConfig.read(groups)).getMessage();
        assertTrue(msg.contains("multiple of norm_num_groups 48"), msg);
    }

    /** Agrees with the independent FLOP model in shared/perf-probes/flops.py (performance-anchors §4). */
    @Test
    void decoderFlopsMatchThePublishedModel() {
        VaeConfig flux = VaeConfig.flux();
        assertEquals(0.62e12, flux.decoderFlops(32, 32), 0.01e12);
        assertEquals(2.51e12, flux.decoderFlops(64, 64), 0.01e12);
        assertEquals(10.47e12, flux.decoderFlops(128, 128), 0.01e12);
    }
}
