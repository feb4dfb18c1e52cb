package io.github.zimage4j.pipeline;

import io.github.zimage4j.dit.TransformerCheckpoint;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.hub.HubCache;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.textencoder.Qwen3Checkpoint;
import io.github.zimage4j.textencoder.Qwen3Config;
import io.github.zimage4j.textencoder.Qwen3TextEncoder;
import io.github.zimage4j.vae.AutoencoderKL;
import io.github.zimage4j.vae.VaeConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a model's components are, found before any weight is read so a bad request fails at once.
 *
 * <p>A model is a diffusers folder ({@code model_index.json} with transformer/, text_encoder/, tokenizer/,
 * vae/, scheduler/), a Hugging Face repo id resolved in the local Hugging Face cache (e.g.
 * {@code Tongyi-MAI/Z-Image-Turbo} → {@code $HF_HUB_CACHE/models--Tongyi-MAI--Z-Image-Turbo/snapshots/…}),
 * or separate component files (ComfyUI's single files, GGUF files) given one by one; a component given
 * explicitly replaces the model folder's.
 *
 * <p>This is also the one place that finds each component's config: the {@code config.json} in the
 * component folder or beside the file; for a file that comes without one (ComfyUI, GGUF) the config its
 * tensor shapes imply (see {@link TransformerCheckpoint#deriveConfig} and {@link Qwen3Checkpoint#deriveConfig});
 * a VAE file without one is the Flux VAE.
 *
 * @param name             a display name (folder, repo id or transformer file name)
 * @param transformer      transformer weights: folder, .safetensors or .safetensors.index.json
 * @param transformerConfig its config.json, or null to derive the config from the tensor shapes
 * @param textEncoder      text encoder weights: folder or file
 * @param textEncoderConfig its config.json, or null to derive the config from the tensor shapes
 * @param tokenizer        tokenizer.json (or a folder holding it), or null for the bundled Qwen3 tokenizer
 * @param vae              VAE weights: folder or file (diffusers or BFL ae.safetensors layout)
 * @param vaeConfig        its config.json, or null for the published Flux VAE config
 * @param schedulerConfig  scheduler_config.json, or null to use the variant's released shift
 */
public record ModelFiles(String name, Path transformer, Path transformerConfig, Path textEncoder, Path textEncoderConfig,
                         Path tokenizer, Path vae, Path vaeConfig, Path schedulerConfig) {

    /** Explicit component locations; any may be null. */
    public record Overrides(Path transformer, Path textEncoder, Path vae, Path tokenizer) {
        public static Overrides none() {
            return new Overrides(null, null, null, null);
        }
    }

    /**
     * Resolves {@code model} (a folder, a repo id, or null when every component is given) plus overrides.
     *
     * @throws ModelFileException naming what is missing and where it was looked for
     */
    public static ModelFiles resolve(String model, Overrides o) throws IOException {
        return resolve(model, o, HubCache.fromEnvironment());
    }

    /** As {@link #resolve(String, Overrides)}, finding repo ids in {@code hubCache}. */
    public static ModelFiles resolve(String model, Overrides o, HubCache hubCache) throws IOException {
        Path root = null;
        String name;
        if (model != null && !model.isBlank()) {
            root = locate(model, hubCache);
            name = model;
        } else {
            if (o.transformer() == null || o.textEncoder() == null || o.vae() == null) {
                throw new ModelFileException("no model given: pass --model (a diffusers folder or a Hugging Face repo id)"
                        + " or all of --transformer, --text-encoder and --vae");
            }
            name = o.transformer().getFileName().toString();
        }
        Path transformer = component(o.transformer(), root, "transformer", "--transformer");
        Path textEncoder = component(o.textEncoder(), root, "text_encoder", "--text-encoder");
        Path vae = component(o.vae(), root, "vae", "--vae");
        Path tokenizer = o.tokenizer() != null ? existing(o.tokenizer(), "--tokenizer")
                : root != null && Files.isRegularFile(root.resolve("tokenizer/tokenizer.json")) ? root.resolve("tokenizer/tokenizer.json")
                : null;
        Path scheduler = root != null && Files.isRegularFile(root.resolve("scheduler/scheduler_config.json"))
                ? root.resolve("scheduler/scheduler_config.json") : null;
        return new ModelFiles(name, transformer, configBeside(transformer), textEncoder, configBeside(textEncoder),
                tokenizer, vae, configBeside(vae), scheduler);
    }

    /** A folder with model_index.json, else a repo id in the Hugging Face cache. */
    static Path locate(String model, HubCache hubCache) throws IOException {
        Path p = Path.of(model);
        if (Files.isDirectory(p)) {
            if (!Files.isRegularFile(p.resolve("model_index.json"))) {
                throw new ModelFileException(p + " is not a diffusers model folder (no model_index.json); give the folder"
                        + " that holds transformer/, text_encoder/, tokenizer/, vae/ and scheduler/, or the component files"
                        + " with --transformer, --text-encoder and --vae");
            }
            return p;
        }
        if (model.matches("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")) {
            return hubCache.snapshot(model);
        }
        throw new ModelFileException("model '" + model + "' is neither a folder nor a Hugging Face repo id (owner/name)");
    }

    private static Path component(Path given, Path root, String folder, String option) throws ModelFileException {
        if (given != null) {
            return existing(given, option);
        }
        Path p = root.resolve(folder);
        if (!Files.isDirectory(p)) {
            throw new ModelFileException(root + " has no " + folder + "/ folder; pass the component with " + option);
        }
        return p;
    }

    private static Path existing(Path p, String option) throws ModelFileException {
        if (!Files.exists(p)) {
            throw new ModelFileException(option + ": " + p + " does not exist");
        }
        if (!Files.isReadable(p)) {
            throw new ModelFileException(option + ": " + p + " is not readable");
        }
        return p;
    }

    /** The transformer config: {@code configJson} when given, else derived from the (opened) weights' shapes. */
    public static ZImageTransformerConfig transformerConfigFor(Path configJson, TensorSource weights) throws IOException {
        if (configJson != null) {
            return ZImageTransformerConfig.read(configJson);
        }
        return TransformerCheckpoint.deriveConfig(TransformerCheckpoint.inDiffusersNames(weights));
    }

    /** The text encoder config: {@code configJson} when given, else derived from the (opened) weights. */
    public static Qwen3Config textEncoderConfigFor(Path configJson, TensorSource weights) throws IOException {
        if (configJson != null) {
            return Qwen3Config.read(configJson);
        }
        return Qwen3Checkpoint.deriveConfig(Qwen3Checkpoint.inHfNames(weights), weights instanceof Gguf g ? g : null);
    }

    /**
     * The VAE config for weights at {@code path}: the config.json of its folder (a diffusers {@code vae/}
     * folder must have one) or beside the file, else the Flux VAE's.
     */
    public static VaeConfig vaeConfigFor(Path path) throws IOException {
        Path json = configBeside(path);
        if (json != null) {
            return VaeConfig.read(json);
        }
        if (Files.isDirectory(path)) {
            throw new ModelFileException(path + ": no config.json in this VAE folder (a diffusers vae/ folder has one)");
        }
        return VaeConfig.flux();
    }

    /** A text encoder from a folder or file of any layout, configured as {@link #textEncoderConfigFor} finds. */
    public static Qwen3TextEncoder openTextEncoder(Path path, Backend backend) throws IOException {
        TensorSource weights = Checkpoints.open(path);
        try {
            return new Qwen3TextEncoder(weights, textEncoderConfigFor(configBeside(path), weights), backend);
        } catch (IOException | RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /** A VAE from a folder or file of either layout, configured as {@link #vaeConfigFor} finds. */
    public static AutoencoderKL openVae(Path path, Backend backend) throws IOException {
        return AutoencoderKL.load(path, vaeConfigFor(path), backend);
    }

    /** config.json in the component folder (or beside the file), or null. */
    public static Path configBeside(Path weights) {
        Path dir = Files.isDirectory(weights) ? weights : weights.toAbsolutePath().getParent();
        Path cfg = dir.resolve("config.json");
        return Files.isRegularFile(cfg) ? cfg : null;
    }
}
