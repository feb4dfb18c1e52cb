package io.github.zimage4j.pipeline;

import io.github.zimage4j.dit.TransformerCheckpoint;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.textencoder.Qwen3Checkpoint;
import io.github.zimage4j.textencoder.Qwen3Config;
import io.github.zimage4j.vae.VaeCheckpoint;
import io.github.zimage4j.vae.VaeConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one checkpoint file (or component folder) is: its container, which Z-Image component it holds and
 * in which layout, its dtypes, the config it comes with or implies, and whether its tensors match that
 * config. Reads headers only.
 *
 * @param file      the file that was opened
 * @param container safetensors, sharded safetensors or GGUF
 * @param component "transformer", "text encoder" or "vae"
 * @param layout    how the tensors are named (e.g. "original/ComfyUI", "llama.cpp", "BFL")
 * @param dtypes    per stored dtype: {tensors, elements}
 * @param tensors   tensor count as stored
 * @param bytes     bytes of tensor data
 * @param config    the config, as its record prints
 * @param configFrom where the config came from ("config.json", "derived from the tensor shapes", …)
 * @param check     the tensor set against that config
 */
public record CheckpointInfo(Path file, Checkpoints.Container container, String component, String layout,
                             Map<DType, long[]> dtypes, int tensors, long bytes, String config, String configFrom,
                             CheckpointCheck.Report check) {

    /**
     * Describes the checkpoint at {@code path}.
     *
     * @throws ModelFileException when the file is not a checkpoint or its tensors fit no Z-Image component
     *                            (the message lists the names that could not be placed)
     */
    public static CheckpointInfo of(Path path) throws IOException {
        Path file = Checkpoints.resolve(path);
        Checkpoints.Container container = Checkpoints.container(file);
        Path configJson = ModelFiles.configBeside(path);
        try (TensorSource src = Checkpoints.open(path)) {
            Map<DType, long[]> dtypes = new TreeMap<>();
            long bytes = 0;
            for (String n : src.names()) {
                StoredTensor t = src.get(n);
                long[] agg = dtypes.computeIfAbsent(t.dtype(), k -> new long[2]);
                agg[0]++;
                agg[1] += t.numel();
                bytes += t.data().byteSize();
            }
            String from = configJson != null ? configJson.toString() : "derived from the tensor shapes";
            String kind = component(src);
            switch (kind) {
                case "transformer" -> {
                    TransformerCheckpoint.Layout layout = TransformerCheckpoint.detect(src);
                    TensorSource view = TransformerCheckpoint.inDiffusersNames(src);
                    ZImageTransformerConfig cfg = ModelFiles.transformerConfigFor(configJson, src);
                    CheckpointCheck.Report r = CheckpointCheck.compare(src.description(), cfg.expectedTensors(),
                            view.shapes(), List.of());
                    return new CheckpointInfo(file, container, kind, layout == TransformerCheckpoint.Layout.ORIGINAL
                            ? "original/ComfyUI" : "diffusers", dtypes, src.names().size(), bytes, cfg.toString(), from, r);
                }
                case "text encoder" -> {
                    TensorSource view = Qwen3Checkpoint.inHfNames(src);
                    Qwen3Config cfg = ModelFiles.textEncoderConfigFor(configJson, src);
                    CheckpointCheck.Report r = CheckpointCheck.compare(src.description(), cfg.expectedTensors(),
                            view.shapes(), List.of("lm_head.weight"));
                    String layout = src.contains("token_embd.weight") ? "llama.cpp"
                            : src.contains(Qwen3Config.PREFIX + "embed_tokens.weight") ? "Hugging Face (Qwen3ForCausalLM)"
                            : "Hugging Face (Qwen3Model)";
                    if (configJson == null && src instanceof Gguf) {
                        from = "derived from the tensor shapes and GGUF metadata";
                    }
                    return new CheckpointInfo(file, container, kind, layout, dtypes, src.names().size(), bytes,
                            cfg.toString(), from, r);
                }
                default -> {
                    VaeCheckpoint.Layout layout = VaeCheckpoint.detect(src);
                    VaeConfig cfg = ModelFiles.vaeConfigFor(path);
                    CheckpointCheck.Report r = CheckpointCheck.compare(src.description(), cfg.expectedTensors(),
                            VaeCheckpoint.inDiffusersNames(src).shapes(), List.of());
                    return new CheckpointInfo(file, container, kind, layout == VaeCheckpoint.Layout.BFL ? "BFL" : "diffusers",
                            dtypes, src.names().size(), bytes, cfg.toString(),
                            configJson != null ? configJson.toString() : "the Flux VAE's (no config.json beside the file)", r);
                }
            }
        }
    }

    /** Which component the tensor names belong to; none known is an error listing what could not be placed. */
    private static String component(TensorSource src) throws ModelFileException {
        boolean textEncoder = src.contains("token_embd.weight") || src.contains("embed_tokens.weight")
                || src.contains(Qwen3Config.PREFIX + "embed_tokens.weight");
        if (textEncoder) {
            return "text encoder";
        }
        boolean vae = src.names().stream().anyMatch(n -> n.startsWith("decoder.") || n.startsWith("encoder."));
        if (vae) {
            return "vae";
        }
        TransformerCheckpoint.detect(src); // throws, listing the names no layout places
        return "transformer";
    }
}
