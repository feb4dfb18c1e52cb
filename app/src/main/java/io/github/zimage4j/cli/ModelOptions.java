package io.github.zimage4j.cli;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Which model to load and how to compute: the options every generating command shares. */
final class ModelOptions {

    @Option(names = "--model", paramLabel = "MODEL",
            description = "A diffusers model folder, or a Hugging Face repo id in the local HF cache (e.g. Tongyi-MAI/Z-Image-Turbo).")
    String model;

    @Option(names = "--transformer", paramLabel = "PATH", description = "Transformer weights (folder, .safetensors, or .index.json); overrides --model's.")
    Path transformer;

    @Option(names = "--text-encoder", paramLabel = "PATH", description = "Qwen3-4B text encoder (folder or single file, e.g. ComfyUI's qwen_3_4b.safetensors).")
    Path textEncoder;

    @Option(names = "--vae", paramLabel = "PATH", description = "VAE (diffusers vae/ folder or BFL ae.safetensors).")
    Path vae;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json (default: the model's, else the bundled Qwen3 tokenizer).")
    Path tokenizer;

    @Option(names = "--variant", paramLabel = "turbo|base", description = "Force the variant (default: detected from the scheduler shift and model name).")
    String variant;

    @Mixin
    ComputeOptions compute;

    /** See {@link ComputeOptions#apply}. */
    void applyCompute(java.io.PrintStream err) {
        compute.apply(err);
    }

    /** The model's files; fails, naming what is missing, before anything is loaded. */
    ModelFiles files() throws IOException {
        return ModelFiles.resolve(model, new ModelFiles.Overrides(transformer, textEncoder, vae, tokenizer));
    }

    ZImagePipeline.Options pipelineOptions() {
        return new ZImagePipeline.Options(compute.backend, variant == null ? null : Variant.parse(variant));
    }
}
