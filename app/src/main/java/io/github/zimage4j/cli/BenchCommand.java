package io.github.zimage4j.cli;

import io.github.zimage4j.bench.BenchResult;
import io.github.zimage4j.bench.LoraBench;
import io.github.zimage4j.bench.Memory;
import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.RandomCheckpoint;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.textencoder.Qwen3Config;
import io.github.zimage4j.textencoder.Qwen3TextEncoder;
import io.github.zimage4j.vae.AutoencoderKL;
import io.github.zimage4j.vae.VaeConfig;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.Variant;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code zimage4j bench}: times each component on full-size weights. Without a real checkpoint it
 * writes (once) a random-weight checkpoint with the real tensor names, shapes and dtype to a cache
 * folder and memory-maps it.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Benchmark the components on full-size weights (random weights with the real names and shapes, "
                + "written once to a cache folder, unless a real checkpoint is given).",
                "FLOPs count every linear layer and both attention products (1 multiply-add = 2 FLOP)."})
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--sizes", split = ",", paramLabel = "PX", defaultValue = "256,512,1024",
            description = "Square image sizes for the transformer forward (multiples of 16). Default: ${DEFAULT-VALUE}.")
    List<Integer> sizes;

    @Option(names = "--components", split = ",", defaultValue = "text-encoder,transformer,vae",
            description = {"Components to time: text-encoder, transformer, vae, generate, controlnet. Default: ${DEFAULT-VALUE}.",
                    "controlnet times one transformer forward (= one Turbo step) with each ControlNet layout (1.0, 2.0, 2.1, Lite; "
                            + "random full-size files) against the plain one, at the largest --sizes.",
                    "generate runs whole text-to-image generations at the largest --sizes through the pipeline, one per "
                            + "--variants entry, and times each stage (load, prompt encoding, every step, VAE decode, 8-bit conversion, "
                            + "PNG, one-time weight preparation) with the total and the peak resident memory; run it alone."})
    List<String> components;

    @Option(names = "--prompt-tokens", defaultValue = "512",
            description = "Prompt length for the text encoder. Default: ${DEFAULT-VALUE} (the pipeline's maximum).")
    int promptTokens;

    @Option(names = "--text-encoder", paramLabel = "PATH",
            description = "A real text encoder (folder with config.json, or a single Qwen3-4B file) instead of random weights.")
    Path textEncoder;

    @Mixin
    ComputeOptions compute;

    @Option(names = "--runs", defaultValue = "1", description = "Timed runs per measurement; the median is reported. Default: ${DEFAULT-VALUE}.")
    int runs;

    @Option(names = "--caption-tokens", defaultValue = "37",
            description = "Caption length fed to the transformer. Default: ${DEFAULT-VALUE} (a typical short prompt).")
    int captionTokens;

    @Option(names = "--dtype", defaultValue = "bf16", description = "Dtype of the random weights: bf16, f16 or f32. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random weights. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "Where random checkpoints are kept. Default: $XDG_CACHE_HOME/zimage4j/bench or ~/.cache/zimage4j/bench.")
    Path cache;

    @Option(names = "--transformer", paramLabel = "PATH",
            description = "A real transformer checkpoint instead of random weights: a diffusers folder or file, ComfyUI's single file,"
                    + " fp8, or a GGUF (e.g. written by `zimage4j quantize`); its config comes from config.json beside it or from the shapes.")
    Path transformer;

    @Option(names = "--vae", paramLabel = "PATH",
            description = "A real VAE (diffusers vae/ folder or BFL ae.safetensors) instead of random weights.")
    Path vae;

    @Option(names = "--variants", split = ",", defaultValue = "turbo,base", paramLabel = "VARIANT",
            description = {"generate component: the variants to run, in order. Turbo: guidance 0; base: guidance 4 with a "
                    + "negative prompt (cond + uncond in one transformer call). Default: ${DEFAULT-VALUE}."})
    List<String> variants;

    @Option(names = "--steps", split = ",", paramLabel = "N|VARIANT=N",
            description = {"generate component: fewer denoising steps for a short measurement, for every variant (2) or one "
                    + "(base=2). Default: each variant's own (Turbo 8, base 50).",
                    "A short run is labelled so, and its total extrapolated to the full step count is printed as such."})
    List<String> steps;

    @Option(names = "--save-images", paramLabel = "DIR",
            description = "generate component: also write each variant's image to DIR/<variant>-<px>.png (after the timing; "
                    + "an existing file is refused before anything runs), e.g. to compare bf16 and 8-bit weights.")
    Path saveImages;

    @Option(names = "--model", paramLabel = "MODEL",
            description = "generate component: a diffusers folder or Hugging Face repo id instead of the random weights "
                    + "(--transformer, --text-encoder and --vae replace its components).")
    String model;

    @Option(names = "--controlnet-main-layers", defaultValue = "30",
            description = "controlnet component: main layers of the DiT to run (fewer keep memory small; the ControlNet's added time does not depend on it). Default: ${DEFAULT-VALUE}.")
    int controlNetMainLayers;

    @Option(names = "--layers", paramLabel = "N",
            description = "Random transformer with N main layers instead of 30 (full width, all other shapes real): fits in "
                    + "memory on a small machine; per-layer costs and ratios are those of the full model.")
    Integer layers;

    @Option(names = "--lora-rank", defaultValue = "0", paramLabel = "R",
            description = "Also time the transformer with a random rank-R LoRA on every linear layer (runtime mode, alternating "
                    + "with the plain forward) and the merge of one block; 0 = off. Default: ${DEFAULT-VALUE}.")
    int loraRank;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Spec
    CommandSpec spec;

    private final PrintStream log = System.err;

    @Override
    public Integer call() throws Exception {
        for (int s : sizes) {
            if (s <= 0 || s % 16 != 0) {
                throw new IllegalArgumentException("--sizes: " + s + " is not a positive multiple of 16");
            }
        }
        if (runs < 1) {
            throw new IllegalArgumentException("--runs must be at least 1, got " + runs);
        }
        for (String c : components) {
            if (!List.of("transformer", "text-encoder", "vae", "generate", "controlnet").contains(c)) {
                throw new IllegalArgumentException("--components: unknown component '" + c
                        + "' (known: text-encoder, transformer, vae, generate, controlnet)");
            }
        }
        // The generate options are checked before any component runs: a typo should not cost the other components' minutes.
        List<Variant> vs = new ArrayList<>();
        for (String v : variants) {
            try {
                vs.add(Variant.parse(v.trim()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--variants: " + e.getMessage());
            }
        }
        java.util.Map<Variant, Integer> stepsPerVariant = GenerateBench.steps(vs.stream().distinct().toList(), steps);
        if (saveImages != null) {
            if (!components.contains("generate")) {
                throw new IllegalArgumentException("--save-images: only the generate component makes images (--components " + components + ")");
            }
            if (!Files.isDirectory(saveImages)) {
                throw new IllegalArgumentException("--save-images: " + saveImages + " is not a folder");
            }
            if (!Files.isWritable(saveImages)) {
                throw new IllegalArgumentException("--save-images: " + saveImages + " is not writable");
            }
            int px = sizes.stream().max(Integer::compare).orElseThrow();
            for (Variant v : vs) {
                Path at = GenerateBench.savedImage(saveImages, v, px);
                if (Files.exists(at)) {
                    throw new IllegalArgumentException("--save-images: " + at + " exists; choose another folder or remove it");
                }
            }
        }
        compute.apply(log);
        Backend be = Backends.select(compute.backend);
        BenchResult result = new BenchResult(be.name());
        result.put("threads", (long) io.github.zimage4j.kernels.Parallel.get().threads());
        if (components.contains("text-encoder")) {
            benchTextEncoder(be, result);
        }
        if (components.contains("transformer")) {
            benchTransformer(be, result);
        }
        if (components.contains("vae")) {
            benchVae(be, result);
        }
        if (components.contains("generate")) {
            benchGenerate(be, vs.stream().distinct().toList(), stepsPerVariant, result);
        }
        if (components.contains("controlnet")) {
            ZImageTransformerConfig cfg = ZImageTransformerConfig.published();
            ControlNetBench.run(be, randomCheckpoint("transformer", cfg.expectedTensors()), cfg, this::randomCheckpoint,
                    sizes.stream().max(Integer::compare).orElseThrow(), captionTokens, seed, controlNetMainLayers, log, result);
        }
        result.put("peak_rss_bytes", Memory.peakRssBytes());
        result.put("heap_committed_bytes", Runtime.getRuntime().totalMemory());
        spec.commandLine().getOut().println(json ? result.json() : result.table());
        spec.commandLine().getOut().flush();
        return 0;
    }

    private Path cacheDir() throws java.io.IOException {
        Path dir = cache;
        if (dir == null) {
            String xdg = System.getenv("XDG_CACHE_HOME");
            dir = (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
                    .resolve("zimage4j").resolve("bench");
        }
        Files.createDirectories(dir);
        return dir;
    }

    private DType weightDtype() {
        return switch (dtype.toLowerCase()) {
            case "bf16" -> DType.BF16;
            case "f16", "fp16" -> DType.F16;
            case "f32", "fp32" -> DType.F32;
            default -> throw new IllegalArgumentException("--dtype: '" + dtype + "' is not bf16, f16 or f32");
        };
    }

    private void benchTransformer(Backend be, BenchResult result) throws Exception {
        ZImageTransformerConfig cfg;
        long t0 = System.nanoTime();
        // A real checkpoint in any container and layout (diffusers, ComfyUI single file, GGUF, fp8): the opener
        // decides; the config comes from config.json beside a safetensors checkpoint, else from the shapes.
        TensorSource st;
        if (transformer != null) {
            st = Checkpoints.open(transformer);
            Path json = Files.isDirectory(transformer) ? transformer.resolve("config.json")
                    : transformer.toAbsolutePath().resolveSibling("config.json");
            boolean gguf = Checkpoints.container(Checkpoints.resolve(transformer)) == Checkpoints.Container.GGUF;
            cfg = ModelFiles.transformerConfigFor(!gguf && Files.isRegularFile(json) ? json : null, st);
            log.printf("transformer %s: %.2f GB on disk, %s%n", transformer, Files.size(Checkpoints.resolve(transformer)) / 1e9, dtypes(st));
        } else {
            ZImageTransformerConfig p = ZImageTransformerConfig.published();
            cfg = layers == null ? p : new ZImageTransformerConfig(p.patchSize(), p.fPatchSize(), p.inChannels(), p.dim(),
                    layers, p.nRefinerLayers(), p.nHeads(), p.nKvHeads(), p.normEps(), p.qkNorm(), p.capFeatDim(), p.ropeTheta(),
                    p.tScale(), p.axesDims(), p.axesLens());
            st = SafeTensors.open(randomCheckpoint(layers == null ? "transformer" : "transformer-" + layers + "layers",
                    cfg.expectedTensors()));
        }
        try (st) {
            ZImageTransformer model = new ZImageTransformer(st, cfg, be);
            result.add(new BenchResult.Row("transformer-load", "-", (System.nanoTime() - t0) / 1e9, 0, 1,
                    "open + bind (pages are read on first use)"));
            // As the pipeline does at load: the backend's one-time conversion (8-bit weights to int8 on oneDNN).
            io.github.zimage4j.kernels.WeightPreparation conversion = model.prepareWeights();
            if (conversion.prepared()) {
                st.releaseResidentPages();
                log.printf("transformer 8-bit conversion: %s%n", conversion);
                result.add(new BenchResult.Row("transformer-8bit-conversion", "-", conversion.seconds(), 0, 1,
                        conversion.toString()));
            }
            Random rnd = new Random(seed);
            Tensor cap = randomTensor(rnd, captionTokens, cfg.capFeatDim());
            List<Integer> sorted = new ArrayList<>(sizes);
            sorted.sort(null);
            boolean cold = true;
            for (int px : sorted) {
                int lat = px / 8;
                Tensor latent = randomTensor(rnd, cfg.inChannels(), 1, lat, lat);
                List<ZImageTransformer.Input> in = List.of(new ZImageTransformer.Input(latent, cap, 0.5f));
                double flops = cfg.forwardFlops(lat, lat, captionTokens);
                if (cold) {
                    double s = time(() -> model.forward(in));
                    log.printf("transformer %d² first forward (cold: page faults, JIT): %.2f s%n", px, s);
                    result.add(new BenchResult.Row("transformer-first", px + "x" + px, s, flops, 1, "cold: includes reading weights and JIT"));
                    cold = false;
                }
                if (loraRank > 0) { // the plain forward is timed there, alternating with the LoRA one
                    LoraBench.run(st, cfg, model, be, LoraBench.randomLora(cacheDir(), cfg, loraRank, seed, log), loraRank, in,
                            px + "x" + px, flops, runs, result, log);
                    continue;
                }
                double[] t = new double[runs];
                for (int r = 0; r < runs; r++) {
                    t[r] = time(() -> model.forward(in));
                    log.printf("transformer %d² run %d/%d: %.2f s (%.3f TFLOP/s)%n", px, r + 1, runs, t[r], flops / t[r] / 1e12);
                }
                result.add(new BenchResult.Row("transformer", px + "x" + px, median(t), flops, runs,
                        (captionTokens) + " caption tokens"));
            }
            long rss = Memory.rssBytes();
            result.add(new BenchResult.Row("transformer-resident", "-", 0, 0, 1, String.format(
                    "RSS %.2f GB after the forwards (weights %s)", rss / 1e9, dtypes(st))));
            result.put("transformer_rss_after_forward_bytes", rss);
            result.put("transformer_weights", dtypes(st));
        }
    }

    /** The stored dtypes of a checkpoint and their byte totals, e.g. {@code Q8_0 6.1 GB, F32 0.1 GB}. */
    private static String dtypes(TensorSource st) {
        java.util.Map<DType, Long> bytes = new java.util.TreeMap<>();
        for (String n : st.names()) {
            var t = st.find(n);
            bytes.merge(t.dtype(), t.data().byteSize(), Long::sum);
        }
        StringBuilder sb = new StringBuilder();
        bytes.forEach((d, b) -> sb.append(sb.isEmpty() ? "" : ", ").append(d).append(String.format(" %.2f GB", b / 1e9)));
        return sb.toString();
    }

    /** A cached random checkpoint for {@code shapes}, written on first use. */
    private Path randomCheckpoint(String component, java.util.Map<String, long[]> shapes) throws java.io.IOException {
        DType dt = weightDtype();
        Path file = cacheDir().resolve(component + "-" + dt.safetensorsName().toLowerCase() + "-seed" + seed + ".safetensors");
        if (!Files.exists(file)) {
            log.printf("writing a random full-size %s (%s) to %s … (once)%n", component, dt, file);
            long t0 = System.nanoTime();
            RandomCheckpoint.write(file, shapes, dt, seed);
            log.printf("  written in %.0f s%n", (System.nanoTime() - t0) / 1e9);
        }
        return file;
    }

    private void benchTextEncoder(Backend be, BenchResult result) throws Exception {
        Qwen3Config cfg = Qwen3Config.QWEN3_4B;
        Path weights = textEncoder != null ? textEncoder : randomCheckpoint("text_encoder", cfg.expectedTensors());
        long t0 = System.nanoTime();
        Qwen3TextEncoder enc = textEncoder != null ? ModelFiles.openTextEncoder(weights, be) : Qwen3TextEncoder.open(weights, cfg, be);
        try (enc) {
            result.add(new BenchResult.Row("text-encoder-load", "-", (System.nanoTime() - t0) / 1e9, 0, 1,
                    "open + bind (pages are read on first use)"));
            Random rnd = new Random(seed);
            int[] ids = new int[promptTokens];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(151_643); // regular (non-special) token ids
            }
            Qwen3Config c = enc.config();
            double flops = textEncoderFlops(c, promptTokens);
            double cold = time(() -> enc.encode(ids));
            log.printf("text encoder %d tokens, first (cold): %.2f s%n", promptTokens, cold);
            result.add(new BenchResult.Row("text-encoder-first", promptTokens + "-tokens", cold, flops, 1, "cold: includes reading weights and JIT"));
            double[] t = new double[runs];
            for (int r = 0; r < runs; r++) {
                t[r] = time(() -> enc.encode(ids));
                log.printf("text encoder %d tokens run %d/%d: %.2f s%n", promptTokens, r + 1, runs, t[r]);
            }
            result.add(new BenchResult.Row("text-encoder", promptTokens + "-tokens", median(t), flops, runs,
                    (c.numHiddenLayers() - 1) + " of " + c.numHiddenLayers() + " layers (hidden_states[-2])"));
        }
    }

    private void benchVae(Backend be, BenchResult result) throws Exception {
        VaeConfig cfg = VaeConfig.flux();
        long t0 = System.nanoTime();
        AutoencoderKL model = vae != null ? ModelFiles.openVae(vae, be)
                : AutoencoderKL.load(randomCheckpoint("vae", cfg.expectedTensors()), cfg, be);
        try (model) {
            result.add(new BenchResult.Row("vae-load", "-", (System.nanoTime() - t0) / 1e9, 0, 1, "open + bind"));
            Random rnd = new Random(seed);
            List<Integer> sorted = new ArrayList<>(sizes);
            sorted.sort(null);
            boolean cold = true;
            for (int px : sorted) {
                int lat = px / 8;
                Tensor latents = randomTensor(rnd, model.config().latentChannels(), lat, lat);
                double flops = model.config().decoderFlops(lat, lat);
                if (cold) {
                    double s = time(() -> model.decode(latents));
                    log.printf("vae decode %d² first (cold): %.2f s%n", px, s);
                    result.add(new BenchResult.Row("vae-decode-first", px + "x" + px, s, flops, 1, "cold: includes reading weights and JIT"));
                    cold = false;
                }
                double[] t = new double[runs];
                for (int r = 0; r < runs; r++) {
                    t[r] = time(() -> model.decode(latents));
                    log.printf("vae decode %d² run %d/%d: %.2f s%n", px, r + 1, runs, t[r]);
                }
                result.add(new BenchResult.Row("vae-decode", px + "x" + px, median(t), flops, runs, "untiled"));
            }
        }
    }

    /** The prompt of the stable-diffusion.cpp comparison runs: 37 tokens with the chat template. */
    static final String PROMPT = "A photograph of a red fox sitting in fresh snow at the edge of a pine forest, soft morning light, "
            + "shallow depth of field, detailed fur";

    /**
     * Whole generations (see {@link GenerateBench}) on {@code --model}, or on a full-size random model folder
     * whose weights are the cached random checkpoints; --transformer, --text-encoder and --vae replace a component.
     */
    private void benchGenerate(Backend be, List<Variant> vs, java.util.Map<Variant, Integer> stepsPerVariant, BenchResult result)
            throws Exception {
        String folder = model;
        if (folder == null) {
            ZImageTransformerConfig dit = ZImageTransformerConfig.published();
            Path dir = cacheDir().resolve("model-" + weightDtype().safetensorsName().toLowerCase() + "-seed" + seed);
            TinyModel.writeLayout(dir, dit, Qwen3Config.QWEN3_4B, VaeConfig.flux(), Variant.TURBO);
            // Only the components that are not given are written (the random text encoder alone is 8 GB).
            if (transformer == null) {
                link(dir.resolve("transformer/diffusion_pytorch_model.safetensors"), randomCheckpoint("transformer", dit.expectedTensors()));
            }
            if (textEncoder == null) {
                link(dir.resolve("text_encoder/model.safetensors"), randomCheckpoint("text_encoder", Qwen3Config.QWEN3_4B.expectedTensors()));
            }
            if (vae == null) {
                link(dir.resolve("vae/diffusion_pytorch_model.safetensors"), randomCheckpoint("vae", VaeConfig.flux().expectedTensors()));
            }
            folder = dir.toString();
        }
        ModelFiles files = ModelFiles.resolve(folder, new ModelFiles.Overrides(transformer, textEncoder, vae, null));
        GenerateBench.run(files, be.name(), vs, stepsPerVariant, sizes.stream().max(Integer::compare).orElseThrow(), seed, PROMPT,
                saveImages, log, result);
    }

    private static void link(Path at, Path target) throws java.io.IOException {
        Files.deleteIfExists(at);
        Files.createSymbolicLink(at, target.toAbsolutePath());
    }

    /** Linear layers and attention of the layers that run (all but the last), 1 multiply-add = 2 FLOP. */
    static double textEncoderFlops(Qwen3Config c, int tokens) {
        double h = c.hiddenSize();
        double perToken = 2 * (h * c.qDim() + 2 * h * c.kvDim() + c.qDim() * h + 3 * h * c.intermediateSize());
        double attention = 2.0 * 2 * tokens * (tokens + 1) / 2.0 * c.qDim(); // causal: half the square
        return (c.numHiddenLayers() - 1) * (tokens * perToken + attention);
    }

    static Tensor randomTensor(Random rnd, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rnd.nextGaussian();
        }
        return t;
    }

    static double time(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) / 1e9;
    }

    private static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
