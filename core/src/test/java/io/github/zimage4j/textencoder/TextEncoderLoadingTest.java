package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layouts a text encoder arrives in (diffusers folder, sharded or not, a single file with or
 * without the {@code model.} prefix), the memory lifecycle, and clear errors for wrong files and input.
 */
class TextEncoderLoadingTest {

    @TempDir
    Path tmp;

    static Path goldenCase() {
        return Golden.root().resolve("text_encoder/case-gqa-padded-batch3");
    }

    static Path goldenWeights() {
        return goldenCase().resolve("model.safetensors");
    }

    static Qwen3Config goldenConfig() throws IOException {
        return Qwen3Config.read(goldenCase().resolve("config.json"));
    }

    static List<Qwen3TextEncoder.Prompt> goldenPrompts() throws IOException {
        return TextEncoderGoldenTest.textEncoderPrompts(goldenCase());
    }

    static List<Tensor> encode(Path weights, Qwen3Config cfg) throws IOException {
        try (Qwen3TextEncoder enc = Qwen3TextEncoder.open(weights, cfg, TextEncoderGoldenTest.backend())) {
            return enc.encode(goldenPrompts());
        }
    }

    /**
     * The same features up to float rounding: the Java kernels are not bit-reproducible from run to run
     * (the Vector API's exp differs by an ulp once the JIT intrinsifies it), so "same" is ≤ 1e-6 relative.
     * A NaN anywhere fails.
     */
    static void assertSameFeatures(List<Tensor> expected, List<Tensor> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i).shape(), actual.get(i).shape(), "prompt " + i + " shape");
            double rel = Compare.relativeError(actual.get(i).data(), expected.get(i).data());
            assertTrue(rel <= 1e-6, "prompt " + i + ": features differ by " + rel + " relative");
        }
    }

    /** Copies the golden weights, renaming or replacing tensors; a null name drops the tensor. */
    static void copyWeights(Path to, Function<String, String> rename, Function<StoredTensor, float[]> values) throws IOException {
        try (SafeTensors w = SafeTensors.open(goldenWeights())) {
            SafeTensorsWriter out = new SafeTensorsWriter();
            for (String name : w.names()) {
                String newName = rename.apply(name);
                if (newName != null) {
                    out.addF32(newName, w.get(name).shape(), values.apply(w.get(name)));
                }
            }
            out.write(to);
        }
    }

    @Test
    void qwen3ModelNamesWithoutPrefixLoad() throws IOException {
        Path file = tmp.resolve("unprefixed.safetensors");
        copyWeights(file, n -> n.substring(Qwen3Config.PREFIX.length()), StoredTensor::toFloats);
        try (SafeTensors st = SafeTensors.open(file)) {
            assertTrue(st.contains("embed_tokens.weight") && !st.contains("model.embed_tokens.weight"));
        }
        assertSameFeatures(encode(goldenWeights(), goldenConfig()), encode(file, goldenConfig()));
    }

    @Test
    void diffusersShardedFolderLoads() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("text_encoder"));
        Files.copy(goldenCase().resolve("config.json"), dir.resolve("config.json"));
        Map<String, Object> weightMap = new LinkedHashMap<>();
        try (SafeTensors w = SafeTensors.open(goldenWeights())) {
            SafeTensorsWriter[] shards = {new SafeTensorsWriter(), new SafeTensorsWriter()};
            String[] files = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
            for (String name : w.names()) {
                // Layer 0 and the embeddings in the first shard, the rest in the second, as HF splits by size.
                int s = name.startsWith("model.layers.0.") || name.contains("embed") ? 0 : 1;
                shards[s].addF32(name, w.get(name).shape(), w.get(name).toFloats());
                weightMap.put(name, files[s]);
            }
            for (int s = 0; s < 2; s++) {
                shards[s].write(dir.resolve(files[s]));
            }
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                Json.write(Map.of("metadata", Map.of("total_size", 0L), "weight_map", weightMap)));
        List<Tensor> sharded;
        try (Qwen3TextEncoder enc = io.github.zimage4j.pipeline.ModelFiles.openTextEncoder(dir, TextEncoderGoldenTest.backend())) {
            sharded = enc.encode(goldenPrompts());
        }
        assertSameFeatures(encode(goldenWeights(), goldenConfig()), sharded);
    }

    @Test
    void lastLayerAndFinalNormAreNeverComputed() throws IOException {
        // NaN in every tensor that only feeds hidden_states[-1]: the features must still be the reference's.
        Qwen3Config cfg = goldenConfig();
        String last = Qwen3Config.layerPrefix(cfg.numHiddenLayers() - 1);
        Path file = tmp.resolve("poisoned.safetensors");
        copyWeights(file, n -> n, t -> {
            float[] v = t.toFloats();
            if (t.name().startsWith(last) || t.name().equals("model.norm.weight")) {
                Arrays.fill(v, Float.NaN);
            }
            return v;
        });
        assertSameFeatures(encode(goldenWeights(), cfg), encode(file, cfg));
    }

    @Test
    void configThatDoesNotMatchTheWeightsListsEveryProblem() throws IOException {
        Path componentsConfig = Golden.root().resolve("pipeline/case-components/text_encoder/config.json");
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> encode(goldenWeights(), Qwen3Config.read(componentsConfig)));
        String msg = e.getMessage();
        assertTrue(msg.contains(goldenWeights().toString()) && msg.contains("does not match its config"), msg);
        assertTrue(msg.contains("model.embed_tokens.weight: expected [151936, 16], found [1000, 64]"), msg);
        assertTrue(msg.contains("wrong shape (35)"), msg);
    }

    @Test
    void missingAndUnexpectedTensorsAreNamed() throws IOException {
        Path file = tmp.resolve("damaged.safetensors");
        copyWeights(file, n -> n.equals("model.layers.1.self_attn.q_norm.weight") ? null
                : n.equals("model.norm.weight") ? "model.final_norm.weight" : n, StoredTensor::toFloats);
        ModelFileException e = assertThrows(ModelFileException.class, () -> encode(file, goldenConfig()));
        assertTrue(e.getMessage().contains("missing (2): model.layers.1.self_attn.q_norm.weight, model.norm.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("unexpected (1): model.final_norm.weight"), e.getMessage());
    }

    @Test
    void tiedLmHeadIsTolerated() throws IOException {
        Path file = tmp.resolve("with-lm-head.safetensors");
        try (SafeTensors w = SafeTensors.open(goldenWeights())) {
            SafeTensorsWriter out = new SafeTensorsWriter();
            for (String name : w.names()) {
                out.addF32(name, w.get(name).shape(), w.get(name).toFloats());
            }
            StoredTensor embed = w.get("model.embed_tokens.weight");
            out.addF32("lm_head.weight", embed.shape(), embed.toFloats());
            out.write(file);
        }
        assertSameFeatures(encode(goldenWeights(), goldenConfig()), encode(file, goldenConfig()));
    }

    @Test
    void singleFileWithoutConfigGetsTheConfigItsShapesImply() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("text_encoders"));
        Path file = Files.copy(goldenWeights(), dir.resolve("qwen_3_4b.safetensors"));
        try (Qwen3TextEncoder enc = io.github.zimage4j.pipeline.ModelFiles.openTextEncoder(file, TextEncoderGoldenTest.backend())) {
            assertEquals(goldenConfig(), enc.config());
        }
        assertSameFeatures(encode(goldenWeights(), goldenConfig()), encode(file, goldenConfig()));
    }

    @Test
    void closedEncoderRefusesToEncodeAndResultsStayValid() throws IOException {
        Qwen3TextEncoder enc = Qwen3TextEncoder.open(goldenWeights(), goldenConfig(), TextEncoderGoldenTest.backend());
        Tensor before = enc.encode(1, 2, 3);
        enc.close();
        assertEquals(3, before.dim(0));
        assertTrue(Float.isFinite(before.data()[0]), "features are heap copies, valid after close");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> enc.encode(1, 2, 3));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void badPromptsAreRefusedClearly() throws IOException {
        try (Qwen3TextEncoder enc = Qwen3TextEncoder.open(goldenWeights(), goldenConfig(), TextEncoderGoldenTest.backend())) {
            IllegalArgumentException outside = assertThrows(IllegalArgumentException.class, () -> enc.encode(5, 1000));
            assertTrue(outside.getMessage().contains("token id 1000 at position 1")
                    && outside.getMessage().contains("[0, 1000)"), outside.getMessage());
            IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> enc.encode(
                    List.of(Qwen3TextEncoder.Prompt.of(1), new Qwen3TextEncoder.Prompt(new int[]{1, 2}, new boolean[]{false, false}))));
            assertTrue(empty.getMessage().contains("prompt 1 has no real tokens"), empty.getMessage());
            IllegalArgumentException leftPadded = assertThrows(IllegalArgumentException.class, () -> enc.encode(
                    List.of(new Qwen3TextEncoder.Prompt(new int[]{999, 3, 4}, new boolean[]{false, true, true}))));
            assertTrue(leftPadded.getMessage().contains("prompt 0"), leftPadded.getMessage());
            IllegalArgumentException holes = assertThrows(IllegalArgumentException.class, () -> enc.encode(
                    List.of(new Qwen3TextEncoder.Prompt(new int[]{2, 999, 4}, new boolean[]{true, false, true}))));
            assertTrue(holes.getMessage().contains("not right padding")
                    && holes.getMessage().contains("position 2"), holes.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new Qwen3TextEncoder.Prompt(new int[3], new boolean[2]));
            // Ids at padded positions are never looked up, whatever they are.
            Tensor padded = enc.encode(List.of(new Qwen3TextEncoder.Prompt(new int[]{5, 6, -1}, new boolean[]{true, true, false}))).get(0);
            assertSameFeatures(List.of(enc.encode(5, 6)), List.of(padded));
        }
    }
}
