package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Bf16Copies;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import io.github.zimage4j.testing.Bf16Check;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity with transformers' {@code Qwen3Model}: every case under golden/text_encoder (each hidden state
 * up to the one Z-Image uses, and the prompt embeddings), the exact prompt embeddings of every
 * golden/pipeline case (real 151936-token vocabulary, 512-slot padded tokenizer output), and the bf16
 * weight path against the float32 path on the same rounded values.
 */
class TextEncoderGoldenTest {

    /** golden README, text_encoder section: "Use atol 1e-4, rtol 1e-4" (the pipeline metas give none for embeddings). */
    static final double PIPELINE_ATOL = 1e-4;
    static final double PIPELINE_RTOL = 1e-4;

    @TempDir
    Path tmp;

    static Backend backend() {
        return TestBackend.get();
    }

    @TestFactory
    Stream<DynamicTest> hiddenStates() {
        return Golden.cases("text_encoder").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkTextEncoderCase(dir)));
    }

    @TestFactory
    Stream<DynamicTest> pipelinePromptEmbeddings() {
        return pipelineCases().stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkPipelineCase(dir)));
    }

    @TestFactory
    Stream<DynamicTest> bf16WeightPath() {
        Stream<DynamicTest> encoderCases = Golden.cases("text_encoder").stream()
                .map(dir -> DynamicTest.dynamicTest("text_encoder/" + dir.getFileName(), () -> checkBf16(
                        dir.resolve("model.safetensors"), dir.resolve("config.json"), textEncoderPrompts(dir),
                        references(dir, "prompt_embeds.", "prompt_embeds."))));
        Stream<DynamicTest> pipeline = pipelineCases().stream()
                .map(dir -> DynamicTest.dynamicTest("pipeline/" + dir.getFileName(), () -> checkBf16(
                        componentsEncoder().resolve("model.safetensors"), componentsEncoder().resolve("config.json"),
                        pipelinePrompts(dir), references(dir, "prompt_embeds.", "negative_prompt_embeds."))));
        return Stream.concat(encoderCases, pipeline);
    }

    // ------------------------------------------------------------------ cases

    /** The pipeline cases (those with inputs; case-components only holds the shared models). */
    static List<Path> pipelineCases() {
        List<Path> cases = Golden.cases("pipeline").stream()
                .filter(d -> Files.isRegularFile(d.resolve("inputs.safetensors"))).toList();
        assertFalse(cases.isEmpty(), "no pipeline case with inputs.safetensors");
        return cases;
    }

    static Path componentsEncoder() {
        return Golden.root().resolve("pipeline/case-components/text_encoder");
    }

    /** Rows of {@code ids} [B, S] with their masks [B, S] as prompts. */
    static List<Qwen3TextEncoder.Prompt> prompts(SafeTensors in, String ids, String mask) throws IOException {
        StoredTensor idT = in.get(ids);
        StoredTensor maskT = in.get(mask);
        assertEquals(Arrays.toString(idT.shape()), Arrays.toString(maskT.shape()), ids + " vs " + mask);
        long[] id = idT.toLongs();
        long[] m = maskT.toLongs();
        int b = (int) idT.dim(0);
        int s = (int) idT.dim(1);
        List<Qwen3TextEncoder.Prompt> out = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int[] row = new int[s];
            boolean[] real = new boolean[s];
            for (int j = 0; j < s; j++) {
                row[j] = Math.toIntExact(id[i * s + j]);
                real[j] = m[i * s + j] != 0;
            }
            out.add(new Qwen3TextEncoder.Prompt(row, real));
        }
        return out;
    }

    static List<Qwen3TextEncoder.Prompt> textEncoderPrompts(Path dir) throws IOException {
        try (SafeTensors in = Golden.open(dir.resolve("inputs.safetensors"))) {
            return prompts(in, "input_ids", "attention_mask");
        }
    }

    /** The pipeline's prompt and, when CFG is on, its negative prompt, in that order. */
    static List<Qwen3TextEncoder.Prompt> pipelinePrompts(Path dir) throws IOException {
        try (SafeTensors in = Golden.open(dir.resolve("inputs.safetensors"))) {
            List<Qwen3TextEncoder.Prompt> out = new ArrayList<>(prompts(in, "prompt.input_ids", "prompt.attention_mask"));
            if (in.contains("negative.input_ids")) {
                out.addAll(prompts(in, "negative.input_ids", "negative.attention_mask"));
            }
            return out;
        }
    }

    record Run(List<Tensor> embeddings, Map<String, List<float[]>> trace) {
    }

    /** Encodes with the config.json beside {@code weights}, recording every hidden state. */
    static Run run(Path weights, List<Qwen3TextEncoder.Prompt> prompts) throws IOException {
        try (Qwen3TextEncoder enc = io.github.zimage4j.pipeline.ModelFiles.openTextEncoder(weights, backend())) {
            Map<String, List<float[]>> trace = new HashMap<>();
            List<Tensor> out = enc.encode(prompts, (name, prompt, data, off, rows, cols) -> {
                List<float[]> l = trace.computeIfAbsent(name, k -> new ArrayList<>());
                while (l.size() <= prompt) {
                    l.add(null);
                }
                l.set(prompt, Arrays.copyOfRange(data, off, off + rows * cols));
            });
            return new Run(out, trace);
        }
    }

    // ------------------------------------------------------------------ checks

    static void checkTextEncoderCase(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "atol");
        double rtol = Golden.tolerance(meta, "rtol");
        int layers = Qwen3Config.read(dir.resolve("config.json")).numHiddenLayers();
        List<Qwen3TextEncoder.Prompt> prompts = textEncoderPrompts(dir);
        Run run = run(dir.resolve("model.safetensors"), prompts);
        try (SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            // hidden_states.0 … .L exist; .L is the final-normed last layer, which Z-Image never uses.
            for (int k = 0; k <= layers; k++) {
                assertTrue(expected.contains("hidden_states." + k), "golden file lacks hidden_states." + k);
            }
            assertFalse(run.trace().containsKey("hidden_states." + layers), "the last layer must not be computed");
            for (int k = 0; k < layers; k++) {
                String name = "hidden_states." + k;
                StoredTensor ref = expected.get(name);
                List<float[]> ours = run.trace().get(name);
                assertTrue(ours != null && ours.size() == prompts.size(), "no trace of " + name + " for every prompt");
                compareRealRows(name, ref.toFloats(), (int) ref.dim(1), (int) ref.dim(2), prompts, ours, atol, rtol);
            }
            for (int i = 0; i < prompts.size(); i++) {
                compareEmbeddings("prompt_embeds." + i, expected, run.embeddings().get(i), atol, rtol);
            }
            assertTrue(!expected.contains("prompt_embeds." + prompts.size()), "more prompt_embeds than prompts");
        }
    }

    /** Compares the positions where the mask is 1: [B, S, H] golden rows against each prompt's traced rows. */
    static void compareRealRows(String name, float[] ref, int seq, int hidden, List<Qwen3TextEncoder.Prompt> prompts,
                                List<float[]> ours, double atol, double rtol) {
        for (int b = 0; b < prompts.size(); b++) {
            Qwen3TextEncoder.Prompt p = prompts.get(b);
            int compared = 0;
            for (int pos = 0; pos < seq; pos++) {
                if (p.mask() == null || p.mask()[pos]) {
                    Compare.allClose(name + "[prompt " + b + ", position " + pos + "]", ref, (b * seq + pos) * hidden,
                            ours.get(b), pos * hidden, hidden, atol, rtol);
                    compared++;
                }
            }
            assertTrue(compared > 0, name + ": prompt " + b + " has no real position");
        }
    }

    static void compareEmbeddings(String name, SafeTensors expected, Tensor actual, double atol, double rtol) {
        Tensor e = Golden.tensor(expected, name);
        assertEquals(Arrays.toString(e.shape()), Arrays.toString(actual.shape()), name + " shape");
        Compare.allClose(name, e.data(), actual.data(), atol, rtol);
    }

    static void checkPipelineCase(Path dir) throws IOException {
        List<Qwen3TextEncoder.Prompt> prompts = pipelinePrompts(dir);
        List<Tensor> out;
        try (Qwen3TextEncoder enc = io.github.zimage4j.pipeline.ModelFiles.openTextEncoder(componentsEncoder(), backend())) {
            assertEquals(151936, enc.config().vocabSize(), "the pipeline encoder has the real vocabulary");
            out = enc.encode(prompts);
        }
        try (SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            compareEmbeddings("prompt_embeds.0", expected, out.get(0), PIPELINE_ATOL, PIPELINE_RTOL);
            assertEquals(prompts.size() == 2, expected.contains("negative_prompt_embeds.0"),
                    "a negative prompt exactly when the golden case has negative embeddings");
            if (prompts.size() == 2) {
                compareEmbeddings("negative_prompt_embeds.0", expected, out.get(1), PIPELINE_ATOL, PIPELINE_RTOL);
            }
        }
    }

    /** The reference embeddings in prompt order: every {@code first.i}, then every {@code second.i} if different. */
    static List<float[]> references(Path dir, String first, String second) throws IOException {
        List<float[]> out = new ArrayList<>();
        try (SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            for (String prefix : first.equals(second) ? List.of(first) : List.of(first, second)) {
                for (int i = 0; expected.contains(prefix + i); i++) {
                    out.add(Golden.tensor(expected, prefix + i).data());
                }
            }
        }
        return out;
    }

    /** The bf16 weight path: see {@link Bf16Check}. */
    void checkBf16(Path weights, Path config, List<Qwen3TextEncoder.Prompt> prompts, List<float[]> reference) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "bf16");
        Files.copy(config, dir.resolve("config.json"));
        Bf16Copies.Paths copies = Bf16Copies.write(weights, dir, "text_encoder");
        Bf16Check.verify(backend(), copies, w -> run(w, prompts).embeddings().stream().map(Tensor::data).toList(), reference);
    }
}
