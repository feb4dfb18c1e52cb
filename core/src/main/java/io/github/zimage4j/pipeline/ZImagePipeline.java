package io.github.zimage4j.pipeline;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.ImageTensors;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.lora.LoraFile;
import io.github.zimage4j.lora.LoraMode;
import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.lora.LoraTensorSource;
import io.github.zimage4j.random.TorchGenerator;
import io.github.zimage4j.scheduler.FlowMatchEulerScheduler;
import io.github.zimage4j.scheduler.Schedule;
import io.github.zimage4j.scheduler.SchedulerConfig;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.textencoder.Qwen3Config;
import io.github.zimage4j.textencoder.Qwen3TextEncoder;
import io.github.zimage4j.tokenizer.PromptTokens;
import io.github.zimage4j.tokenizer.Qwen3Tokenizer;
import io.github.zimage4j.vae.AutoencoderKL;

import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;

/**
 * Text to image with Z-Image or Z-Image-Turbo, as diffusers' {@code ZImagePipeline}:
 * <pre>
 *   prompt ─ tokenizer ─ text encoder (hidden_states[-2]) ─┐
 *   seed ─ noise ────────────────────────────── transformer × steps (Euler, CFG) ─ VAE decode ─ image
 * </pre>
 * Load once, generate many. The transformer and VAE stay memory-mapped; the 8 GB text encoder is mapped
 * only while prompts are encoded and unmapped before denoising starts.
 *
 * <pre>{@code
 * try (ZImagePipeline pipe = ZImagePipeline.load(ModelFiles.resolve("Tongyi-MAI/Z-Image-Turbo", Overrides.none()),
 *                                                ZImagePipeline.Options.defaults())) {
 *     GeneratedImage img = pipe.generate(GenerationRequest.of("a red fox in snow", 1024, 1024).withSeed(42)).get(0);
 *     PngFiles.write(Path.of("fox.png"), img.image(), img.metadata());
 * }
 * }</pre>
 */
public final class ZImagePipeline implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(ZImagePipeline.class.getName());
    private static final String VERSION = "zimage4j " + versionOf();

    /**
     * How to load.
     *
     * @param backend "auto", "java" or a native backend's name
     * @param variant force the variant (null: detect from the scheduler shift and the model name)
     */
    public record Options(String backend, Variant variant, LoraMode loraMode, boolean loraIgnoreUnplaced) {
        public Options(String backend, Variant variant) {
            this(backend, variant, LoraMode.RUNTIME, false);
        }

        public static Options defaults() {
            return new Options(Backends.AUTO, null);
        }

        /**
         * How requests' LoRAs are applied (runtime by default), and whether LoRA keys that fit no weight are
         * skipped (else they are an error listing them).
         */
        public Options withLoras(LoraMode mode, boolean ignoreUnplaced) {
            return new Options(backend, variant, mode, ignoreUnplaced);
        }
    }

    private final ModelFiles files;
    private final Backend backend;
    private final Variant variant;
    private final SchedulerConfig schedulerConfig;
    private final Qwen3Tokenizer tokenizer;
    private final Qwen3Config textEncoderConfig;
    private final SafeTensors transformerWeights;
    private final ZImageTransformerConfig transformerConfig;
    private final Options options;
    /** Rebound (cheaply: the weights stay mapped) whenever the requested LoRAs change. */
    private ZImageTransformer transformer;
    private List<LoraSpec> boundLoras = List.of();
    private LoraTensorSource.Report loraReport = new LoraTensorSource.Report(List.of(), 0, 0, List.of());
    /** LoRA files read so far, by path: a file is read once however often the set or strengths change. */
    private final Map<Path, LoraFile> loraFiles = new HashMap<>();
    private final AutoencoderKL vae;
    /** Hashing 12 GB takes seconds: it starts at load, beside prompt encoding and denoising (cached per file). */
    private final java.util.concurrent.CompletableFuture<String> modelHash;

    private ZImagePipeline(ModelFiles files, Backend backend, Variant variant, SchedulerConfig schedulerConfig,
                           Qwen3Tokenizer tokenizer, Qwen3Config textEncoderConfig, SafeTensors transformerWeights,
                           ZImageTransformerConfig transformerConfig, Options options, ZImageTransformer transformer,
                           AutoencoderKL vae) {
        this.files = files;
        this.backend = backend;
        this.variant = variant;
        this.schedulerConfig = schedulerConfig;
        this.tokenizer = tokenizer;
        this.textEncoderConfig = textEncoderConfig;
        this.transformerWeights = transformerWeights;
        this.transformerConfig = transformerConfig;
        this.options = options;
        this.transformer = transformer;
        this.vae = vae;
        this.modelHash = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return ModelHash.of(files.transformer());
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "could not hash " + files.transformer() + ": " + e.getMessage());
                return null;
            }
        }, runnable -> {
            Thread t = new Thread(runnable, "zimage4j-model-hash");
            t.setDaemon(true);
            t.setPriority(Thread.MIN_PRIORITY);
            t.start();
        });
    }

    /**
     * Checks every component (configs, tensor names and shapes) and maps the transformer and VAE. Fails,
     * naming the file and the problem, before any heavy work.
     */
    public static ZImagePipeline load(ModelFiles files, Options options) throws IOException {
        Backend backend = Backends.select(options.backend());
        SchedulerConfig sched = files.schedulerConfig() != null ? SchedulerConfig.read(files.schedulerConfig()) : null;
        Variant variant = options.variant() != null ? options.variant()
                : Variant.detect(sched == null ? null : sched.shift(), files.name());
        if (variant == null) {
            throw new ModelFileException("cannot tell whether " + files.name() + " is Z-Image or Z-Image-Turbo"
                    + (sched == null ? "" : " (scheduler shift " + sched.shift() + ")") + "; pass --variant turbo or --variant base");
        }
        if (sched == null) {
            sched = SchedulerConfig.withShift(variant.schedulerShift());
        }
        Qwen3Tokenizer tokenizer = files.tokenizer() != null ? Qwen3Tokenizer.load(files.tokenizer()) : Qwen3Tokenizer.bundled();
        Qwen3Config teConfig = files.textEncoderConfig() != null ? Qwen3Config.read(files.textEncoderConfig()) : Qwen3Config.QWEN3_4B;
        // Bind the text encoder once now so a wrong file fails here, not after minutes of work; unmap at once.
        try (Qwen3TextEncoder check = Qwen3TextEncoder.open(files.textEncoder(), teConfig, backend)) {
            if (check.featureDim() <= 0) {
                throw new ModelFileException(files.textEncoder() + ": text encoder has no features");
            }
        }
        ZImageTransformerConfig ditConfig = files.transformerConfig() != null
                ? ZImageTransformerConfig.read(files.transformerConfig()) : ZImageTransformerConfig.published();
        if (ditConfig.capFeatDim() != teConfig.hiddenSize()) {
            throw new ModelFileException("the transformer reads " + ditConfig.capFeatDim() + "-wide caption features but the"
                    + " text encoder " + files.textEncoder() + " produces " + teConfig.hiddenSize());
        }
        SafeTensors dit = SafeTensors.open(files.transformer());
        try {
            ZImageTransformer transformer = new ZImageTransformer(dit, ditConfig, backend);
            AutoencoderKL vae = AutoencoderKL.load(files.vae(), backend);
            if (vae.config().latentChannels() != ditConfig.inChannels()) {
                vae.close();
                throw new ModelFileException("the VAE " + files.vae() + " has " + vae.config().latentChannels()
                        + " latent channels, the transformer expects " + ditConfig.inChannels());
            }
            return new ZImagePipeline(files, backend, variant, sched, tokenizer, teConfig, dit, ditConfig, options, transformer,
                    vae);
        } catch (IOException | RuntimeException e) {
            dit.close();
            throw e;
        }
    }

    public Variant variant() {
        return variant;
    }

    public Backend backend() {
        return backend;
    }

    public ModelFiles files() {
        return files;
    }

    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    public List<GeneratedImage> generate(GenerationRequest request) throws IOException {
        return generate(request, PipelineListener.NONE, Cancellation.none());
    }

    /**
     * Generates {@code request.count()} images (seeds seed, seed + 1, …).
     *
     * @throws CancellationException when {@code cancel} was triggered; nothing is returned
     */
    public synchronized List<GeneratedImage> generate(GenerationRequest request, PipelineListener listener, Cancellation cancel)
            throws IOException {
        useLoras(request.loras());
        int steps = request.steps() != null ? request.steps() : variant.defaultSteps();
        double g = request.guidance() != null ? request.guidance() : variant.defaultGuidance();
        Guidance guidance = new Guidance(g, request.cfgNormalization(), request.cfgTruncation());
        if (variant == Variant.TURBO && (g > 0 || !request.negativePrompt().isEmpty())) {
            LOG.log(System.Logger.Level.WARNING, g > 0
                    ? "Z-Image-Turbo is distilled for guidance 0; guidance " + g + " is applied but is not what it was trained for"
                    : "the negative prompt has no effect on Z-Image-Turbo at guidance 0");
        }
        long seed = request.seed() != null ? request.seed() : new SecureRandom().nextLong() & 0xFFFFFFFFL;
        int n = request.count();
        int lh = request.height() / 8;
        int lw = request.width() / 8;

        // 1. Prompts → caption features; the text encoder is unmapped before denoising.
        listener.stage(PipelineListener.Stage.ENCODING_PROMPT);
        List<Tensor> positive = new ArrayList<>();
        List<Tensor> negative = new ArrayList<>();
        PromptTokens pos = tokenizer.chatIds(request.prompt(), request.maxSequenceLength());
        PromptTokens neg = guidance.enabled() ? tokenizer.chatIds(request.negativePrompt(), request.maxSequenceLength()) : null;
        try (Qwen3TextEncoder enc = Qwen3TextEncoder.open(files.textEncoder(), textEncoderConfig, backend)) {
            Tensor p = enc.encode(pos.ids());
            Tensor q = neg != null ? enc.encode(neg.ids()) : null;
            for (int i = 0; i < n; i++) {
                positive.add(p);
                if (q != null) {
                    negative.add(q);
                }
            }
        }
        listener.promptEmbeddings(positive, negative);
        checkCancelled(cancel);

        // 2. Noise: image i from its own generator seeded seed + i (diffusers with a CPU generator, batch 1).
        List<Tensor> latents = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (i == 0 && request.initialLatents() != null) {
                latents.add(request.initialLatents().copy());
            } else {
                latents.add(new TorchGenerator(seed + i).randn(16, 1, lh, lw));
            }
        }

        // 3. Denoise.
        listener.stage(PipelineListener.Stage.DENOISING);
        FlowMatchEulerScheduler scheduler = new FlowMatchEulerScheduler(schedulerConfig);
        Schedule schedule = scheduler.zImageSchedule(steps, SchedulerConfig.imageSeqLen(lh, lw));
        List<Tensor> finals = Denoiser.run(transformer, schedule, 0, positive, negative, latents, guidance,
                listener::step, cancel::isCancelled);

        // 4. Decode. The transformer's pages leave the resident set (the OS keeps them cached for the next
        // generation), so the decoder's activations do not stack on 12 GB of weights.
        transformerWeights.releaseResidentPages();
        listener.stage(PipelineListener.Stage.DECODING);
        List<GeneratedImage> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            checkCancelled(cancel);
            Tensor lat = finals.get(i);
            Tensor decoded = vae.decode(lat.reshape(16, lh, lw));
            listener.decoded(i, decoded);
            UInt8Image image = ImageTensors.fromDecoded(decoded);
            GenerationMetadata meta = new GenerationMetadata(request.prompt(), request.negativePrompt(), steps, "Euler",
                    g, request.cfgNormalization(), request.cfgTruncation(), seed + i, request.width(), request.height(),
                    files.name(), modelHash(), schedulerConfig.shift(), null, request.maxSequenceLength(), precision(),
                    VERSION, extras());
            out.add(new GeneratedImage(image, seed + i, meta, lat));
        }
        return out;
    }

    /**
     * Binds the transformer with these LoRAs (the options' mode), reading each file once; nothing happens when
     * they are the ones already bound. Fails, listing the keys, when a key fits no weight (unless the options
     * ignore them) before any work starts. {@link #generate} calls this with the request's LoRAs.
     */
    public synchronized LoraTensorSource.Report useLoras(List<LoraSpec> loras) throws IOException {
        if (loras.equals(boundLoras)) {
            return loraReport;
        }
        List<LoraTensorSource.Applied> applied = new ArrayList<>();
        for (LoraSpec spec : loras) {
            Path key = spec.file().toAbsolutePath().normalize();
            LoraFile f = loraFiles.get(key);
            if (f == null) {
                f = LoraFile.read(spec.file());
                loraFiles.put(key, f);
            }
            applied.add(new LoraTensorSource.Applied(f, spec.strength()));
        }
        LoraTensorSource bound = LoraTensorSource.bind(transformerWeights, applied, options.loraMode(),
                options.loraIgnoreUnplaced());
        transformer = new ZImageTransformer(bound, transformerConfig, backend);
        boundLoras = List.copyOf(loras);
        loraReport = bound.report();
        return loraReport;
    }

    private static void checkCancelled(Cancellation cancel) {
        if (cancel.isCancelled() || Thread.currentThread().isInterrupted()) {
            throw new CancellationException("cancelled");
        }
    }

    /** How the transformer computed, e.g. "BF16 weights, float32 products (java)". */
    private String precision() {
        io.github.zimage4j.io.DType dtype = transformerWeights.find("cap_embedder.1.weight").dtype();
        return dtype.safetensorsName() + " weights, " + (backend.float32Products(dtype) ? "float32" : "bf16")
                + " products (" + backend.name() + ")";
    }

    /** Settings for the image's metadata beyond the fixed ones: the variant and the LoRAs. */
    private Map<String, String> extras() {
        Map<String, String> extra = new java.util.LinkedHashMap<>();
        extra.put("Variant", variant.displayName());
        if (!boundLoras.isEmpty()) {
            extra.put("LoRAs", String.join(", ", boundLoras.stream()
                    .map(l -> l.file().getFileName() + ":" + l.strength()).toList()));
        }
        return extra;
    }

    private String modelHash() {
        return modelHash.join();
    }

    private static String versionOf() {
        String v = ZImagePipeline.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    @Override
    public void close() {
        vae.close();
        transformerWeights.close();
    }
}
