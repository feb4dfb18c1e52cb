package io.github.zimage4j.pipeline;

import io.github.zimage4j.controlnet.ZImageControlNet;
import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.ImageTensors;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
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
import io.github.zimage4j.vae.LatentDistribution;
import io.github.zimage4j.image.LanczosResize;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;

/**
 * Z-Image or Z-Image-Turbo as diffusers' {@code ZImagePipeline}, {@code ZImageImg2ImgPipeline},
 * {@code ZImageInpaintPipeline}, {@code ZImageControlNetPipeline} and {@code ZImageControlNetInpaintPipeline}:
 * one loop, the {@link Mode} chosen by the request's inputs.
 * <pre>
 *   prompt ─ tokenizer ─ text encoder (hidden_states[-2]) ─┐
 *   seed ─ noise (or init image: VAE encode, re-noise) ─── transformer × steps (Euler, CFG) ─ VAE decode ─ image
 *                                      inpaint: blend the kept region ┘   │
 *   control image ─ VAE encode (mean) ─ ControlNet hints after its layers ┘
 * </pre>
 * Load once, generate many. The transformer and VAE stay memory-mapped; the 8 GB text encoder is mapped
 * only while prompts are encoded and unmapped before denoising starts.
 *
 * <pre>{@code
 * try (ZImagePipeline pipe = ZImagePipeline.load(ModelFiles.resolve("Tongyi-MAI/Z-Image-Turbo", Overrides.none()),
 *                                                ZImagePipeline.Options.defaults())) {
 *     GeneratedImage img = pipe.generate(GenerationRequest.builder().prompt("a red fox in snow").seed(42L).build()).get(0);
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
     * @param backend          "auto", "java" or a native backend's name
     * @param variant          force the variant (null: detect from the scheduler shift and the model name)
     * @param controlNet       a Z-Image Fun ControlNet Union file or folder to load beside the transformer, or null
     * @param refinerRouting   where a 2.x ControlNet's refiner hints go; null = {@link RefinerRouting#DIFFUSERS}
     * @param loraMode         how requests' LoRAs are applied; null = {@link LoraMode#RUNTIME}
     * @param loraIgnoreUnplaced skip LoRA keys that fit no weight (else they are an error listing them)
     */
    public record Options(String backend, Variant variant, Path controlNet, RefinerRouting refinerRouting,
                          LoraMode loraMode, boolean loraIgnoreUnplaced) {
        public Options(String backend, Variant variant) {
            this(backend, variant, null, null, LoraMode.RUNTIME, false);
        }

        public Options(String backend, Variant variant, Path controlNet, RefinerRouting refinerRouting) {
            this(backend, variant, controlNet, refinerRouting, LoraMode.RUNTIME, false);
        }

        public Options {
            loraMode = loraMode == null ? LoraMode.RUNTIME : loraMode;
        }

        public static Options defaults() {
            return new Options(Backends.AUTO, null);
        }

        public Options withControlNet(Path file, RefinerRouting routing) {
            return new Options(backend, variant, file, routing, loraMode, loraIgnoreUnplaced);
        }

        public Options withLoras(LoraMode mode, boolean ignoreUnplaced) {
            return new Options(backend, variant, controlNet, refinerRouting, mode, ignoreUnplaced);
        }
    }

    private final ModelFiles files;
    private final Backend backend;
    private final Variant variant;
    private final SchedulerConfig schedulerConfig;
    private final Qwen3Tokenizer tokenizer;
    private final Qwen3Config textEncoderConfig;
    private final TensorSource transformerWeights;
    private final ZImageTransformerConfig transformerConfig;
    private final Options options;
    /** Rebound (cheaply: the weights stay mapped) whenever the requested LoRAs change. */
    private ZImageTransformer transformer;
    private List<LoraSpec> boundLoras = List.of();
    /** The backend's one-time conversion of the transformer's weights at load (e.g. 8-bit weights to int8). */
    private io.github.zimage4j.kernels.WeightPreparation weightPreparation = io.github.zimage4j.kernels.WeightPreparation.NONE;
    /** Whether {@link #decode} frees the transformer's prepared copies first (see {@link #releaseTransformerBeforeDecode}). */
    private boolean releaseBeforeDecode;
    /** The copies were freed: the next generation prepares the weights again. */
    private boolean preparedReleased;
    private LoraTensorSource.Report loraReport = new LoraTensorSource.Report(List.of(), 0, 0, List.of());
    /** LoRA files read so far, by path: a file is read once (again only when it changes on disk). */
    private final Map<Path, ReadLora> loraFiles = new HashMap<>();

    private record ReadLora(LoraFile file, java.nio.file.attribute.FileTime modified) {
    }
    private final AutoencoderKL vae;
    private final ZImageControlNet controlNet; // null without one
    private final RefinerRouting refinerRouting;
    /** Prompts repeat (batches, a server): their caption features are kept, keyed by token ids. */
    public static final int DEFAULT_PROMPT_CACHE = 16;
    private final PromptCache promptCache = new PromptCache(DEFAULT_PROMPT_CACHE);
    private volatile int promptCacheSize = DEFAULT_PROMPT_CACHE;
    /** Hashing 12 GB takes seconds: it starts at load, beside prompt encoding and denoising (cached per file). */
    private final java.util.concurrent.CompletableFuture<String> modelHash;

    private ZImagePipeline(ModelFiles files, Backend backend, Variant variant, SchedulerConfig schedulerConfig,
                           Qwen3Tokenizer tokenizer, Qwen3Config textEncoderConfig, TensorSource transformerWeights,
                           ZImageTransformerConfig transformerConfig, Options options, ZImageTransformer transformer,
                           AutoencoderKL vae, ZImageControlNet controlNet, RefinerRouting refinerRouting) {
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
        this.controlNet = controlNet;
        this.refinerRouting = refinerRouting;
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
        // Bind the text encoder once now so a wrong file fails here, not after minutes of work; unmap at once.
        Qwen3Config teConfig;
        try (Qwen3TextEncoder check = ModelFiles.openTextEncoder(files.textEncoder(), backend)) {
            teConfig = check.config();
        }
        TensorSource dit = Checkpoints.open(files.transformer());
        try {
            ZImageTransformerConfig ditConfig = ModelFiles.transformerConfigFor(files.transformerConfig(), dit);
            if (ditConfig.capFeatDim() != teConfig.hiddenSize()) {
                throw new ModelFileException("the transformer reads " + ditConfig.capFeatDim() + "-wide caption features but the"
                        + " text encoder " + files.textEncoder() + " produces " + teConfig.hiddenSize());
            }
            ZImageTransformer transformer = new ZImageTransformer(dit, ditConfig, backend);
            AutoencoderKL vae = ModelFiles.openVae(files.vae(), backend);
            if (vae.config().latentChannels() != ditConfig.inChannels()) {
                vae.close();
                throw new ModelFileException("the VAE " + files.vae() + " has " + vae.config().latentChannels()
                        + " latent channels, the transformer expects " + ditConfig.inChannels());
            }
            ZImageControlNet control = null;
            if (options.controlNet() != null) {
                try {
                    control = ZImageControlNet.load(options.controlNet(), ditConfig);
                } catch (IOException | RuntimeException e) {
                    vae.close();
                    throw e;
                }
            }
            ZImagePipeline pipe = new ZImagePipeline(files, backend, variant, sched, tokenizer, teConfig, dit, ditConfig, options,
                    transformer, vae, control,
                    options.refinerRouting() != null ? options.refinerRouting() : RefinerRouting.DIFFUSERS);
            pipe.prepareTransformer();
            return pipe;
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

    public ZImageTransformerConfig transformerConfig() {
        return transformerConfig;
    }

    public io.github.zimage4j.vae.VaeConfig vaeConfig() {
        return vae.config();
    }

    public List<GeneratedImage> generate(GenerationRequest request) throws IOException {
        return generate(request, PipelineListener.NONE, Cancellation.none());
    }

    /** What a request asks for, decided by its inputs (as diffusers picks a pipeline class). */
    public enum Mode {
        /** {@code ZImagePipeline}. */
        TEXT_TO_IMAGE,
        /** {@code ZImageImg2ImgPipeline}: start from the init image re-noised to the strength's σ. */
        IMAGE_TO_IMAGE,
        /** {@code ZImageInpaintPipeline}: as image to image, the unmasked region blended back after every step. */
        INPAINT,
        /**
         * {@code ZImageControlNetInpaintPipeline}: text to image from noise, the init image and mask given to a
         * 2.x ControlNet as its inpaint channels; no strength, no blending.
         */
        CONTROL_INPAINT;

        static Mode of(GenerationRequest r) {
            if (r.initImage() == null) {
                return TEXT_TO_IMAGE;
            }
            if (r.mask() != null) {
                return r.controlImage() != null ? CONTROL_INPAINT : INPAINT;
            }
            return IMAGE_TO_IMAGE;
        }

        /** Whether the run starts from the init image re-noised to the strength's σ. */
        boolean fromInitImage() {
            return this == IMAGE_TO_IMAGE || this == INPAINT;
        }
    }

    /**
     * Checks that the request fits what is loaded, before any model work: control inputs need a ControlNet,
     * ControlNet inpainting a 2.x one and no strength.
     */
    private void checkFits(GenerationRequest request, Mode mode) {
        if (request.controlImage() != null && controlNet == null) {
            throw new IllegalArgumentException("a control image needs a ControlNet: load one (--controlnet FILE)");
        }
        if (mode == Mode.CONTROL_INPAINT) {
            if (!controlNet.supportsInpaint()) {
                throw new IllegalArgumentException("the " + controlNet.describeLayout() + " ControlNet has no inpaint channels;"
                        + " inpainting with a ControlNet needs a 2.x one (33 control channels)");
            }
            if (request.strength() != null) {
                throw new IllegalArgumentException("strength " + request.strength() + " does not apply to ControlNet inpainting:"
                        + " like diffusers' ZImageControlNetInpaintPipeline it starts from noise (drop the strength or the control image)");
            }
        }
    }

    /**
     * Generates {@code request.count()} images (seeds seed, seed + 1, …) in four stages that every mode
     * composes: encode the prompts, make the initial latents (noise, or the init image re-noised), denoise
     * (with the mode's hooks), decode.
     *
     * @throws CancellationException when {@code cancel} was triggered; nothing is returned
     */
    public synchronized List<GeneratedImage> generate(GenerationRequest request, PipelineListener listener, Cancellation cancel)
            throws IOException {
        GenerationRequest.Settings settings = request.resolve(variant);
        Mode mode = Mode.of(request);
        checkFits(request, mode);
        useLoras(request.loras());
        if (preparedReleased) {
            prepareTransformer();
        }
        for (String note : request.notes()) {
            LOG.log(System.Logger.Level.INFO, note);
        }
        double g = settings.guidance();
        if (variant == Variant.TURBO && (g > 0 || !request.negativePrompt().isEmpty())) {
            LOG.log(System.Logger.Level.WARNING, g > 0
                    ? "Z-Image-Turbo is distilled for guidance 0; guidance " + g + " is applied but is not what it was trained for"
                    : "the negative prompt has no effect on Z-Image-Turbo at guidance 0");
        }
        int maxTokens = transformer.maxCaptionTokens();
        if (request.maxSequenceLength() > maxTokens) {
            throw new IllegalArgumentException("max sequence length " + request.maxSequenceLength() + " exceeds what the"
                    + " transformer's RoPE table holds: at most " + maxTokens + " caption tokens (axes_lens "
                    + java.util.Arrays.toString(transformer.config().axesLens()) + ")");
        }
        int lh = request.height() / 8;
        int lw = request.width() / 8;
        FlowMatchEulerScheduler scheduler = new FlowMatchEulerScheduler(schedulerConfig);
        Schedule schedule = scheduler.zImageSchedule(settings.steps(), SchedulerConfig.imageSeqLen(lh, lw));
        // Fails on a strength that leaves no step before any model work.
        int firstStep = mode.fromInitImage() ? schedule.startIndexForStrength(settings.strength()) : 0;

        Prompts prompts = encodePrompts(request, settings, listener);
        checkCancelled(cancel);
        ImageInputs images = encodeImages(request, settings, mode, listener);
        checkCancelled(cancel);
        List<StartLatents> starts = initialLatents(request, settings, mode, schedule, firstStep, images);

        listener.stage(PipelineListener.Stage.DENOISING);
        List<Tensor> latents = starts.stream().map(StartLatents::latents).toList();
        listener.initialLatents(latents);
        List<Tensor> finals = Denoiser.run(transformer, schedule, firstStep, prompts.positive(), prompts.negative(), latents,
                settings.cfg(), hooks(mode, settings, images, starts, schedule), listener::step, cancel::isCancelled);

        return decode(request, settings, finals, listener, cancel);
    }

    /** Caption features per image; negative ones only with guidance. */
    record Prompts(List<Tensor> positive, List<Tensor> negative) {
    }

    /** Stage 1: prompts → caption features. The text encoder is mapped only for this and unmapped after. */
    Prompts encodePrompts(GenerationRequest request, GenerationRequest.Settings settings, PipelineListener listener)
            throws IOException {
        listener.stage(PipelineListener.Stage.ENCODING_PROMPT);
        int n = request.count();
        PromptTokens pos = tokenizer.chatIds(request.prompt(), request.maxSequenceLength());
        PromptTokens neg = settings.cfg().enabled() ? tokenizer.chatIds(request.negativePrompt(), request.maxSequenceLength()) : null;
        List<Tensor> features = features(neg == null ? List.of(pos) : List.of(pos, neg));
        Tensor p = features.get(0);
        Tensor q = neg != null ? features.get(1) : null;
        NonFinite.check(p.data(), "the text encoder output for the prompt");
        if (q != null) {
            NonFinite.check(q.data(), "the text encoder output for the negative prompt");
        }
        List<Tensor> positive = new ArrayList<>();
        List<Tensor> negative = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            positive.add(p);
            if (q != null) {
                negative.add(q);
            }
        }
        listener.promptEmbeddings(positive, negative);
        return new Prompts(positive, negative);
    }

    /**
     * The request's images, prepared once for all images of the batch: the init image's latent
     * distribution (VAE space), the inpainting mask at latent resolution, the ControlNet's context.
     */
    record ImageInputs(LatentDistribution initImage, float[] latentMask, Tensor controlContext) {
        static final ImageInputs NONE = new ImageInputs(null, null, null);
    }

    ImageInputs encodeImages(GenerationRequest request, GenerationRequest.Settings settings, Mode mode,
                             PipelineListener listener) {
        if (request.initImage() == null && request.controlImage() == null) {
            return ImageInputs.NONE;
        }
        listener.stage(PipelineListener.Stage.ENCODING_IMAGES);
        int w = request.width();
        int h = request.height();
        Tensor initInput = request.initImage() == null ? null
                : ImageTensors.toModelInput(LanczosResize.resize(request.initImage(), w, h));
        LatentDistribution dist = mode.fromInitImage() ? vae.encode(initInput) : null;
        InpaintMask mask = request.mask() == null ? null : InpaintMask.of(request.mask(), w, h);
        Tensor context = null;
        if (request.controlImage() != null) {
            UInt8Image control = LanczosResize.resize(request.controlImage(), w, h);
            if (settings.controlType() != null) {
                control = settings.controlType().prepare(control);
            }
            context = controlContext(vae.toPipelineSpace(vae.encode(ImageTensors.toModelInput(control)).mode()),
                    mode == Mode.CONTROL_INPAINT ? mask : null, initInput);
        }
        return new ImageInputs(dist, mode == Mode.INPAINT ? mask.latentMask() : null, context);
    }

    /**
     * The ControlNet's input [C, 1, h, w] (spec §10.3, diffusers): the control latents (the VAE posterior
     * mean); for a 2.x ControlNet then a keep mask (1 = keep) and the masked image's latents, or 17 zero
     * channels without inpainting.
     */
    private Tensor controlContext(Tensor controlLatents, InpaintMask mask, Tensor initInput) {
        int lh = controlLatents.dim(1);
        int lw = controlLatents.dim(2);
        int plane = lh * lw;
        int channels = controlNet.controlInDim();
        float[] ctx = new float[channels * plane];
        System.arraycopy(controlLatents.data(), 0, ctx, 0, 16 * plane);
        if (mask != null) {
            float[] repaint = mask.latentMask();
            for (int p = 0; p < plane; p++) {
                ctx[16 * plane + p] = 1f - repaint[p];
            }
            Tensor masked = vae.toPipelineSpace(vae.encode(mask.keepOnly(initInput)).mode());
            System.arraycopy(masked.data(), 0, ctx, 17 * plane, 16 * plane);
        }
        return new Tensor(ctx, channels, 1, lh, lw);
    }

    /** Per image: the latents denoising starts from, its noise, and (image to image) the clean image latents. */
    record StartLatents(Tensor latents, Tensor noise, Tensor imageLatents) {
    }

    /**
     * Stage 2: the initial latents, image i from its own generator seeded seed + i (diffusers with a CPU
     * generator, batch 1). Image to image draws, in the reference's order, the init image's posterior
     * sample first and the noise second, then re-noises the image latents to σ_first.
     */
    List<StartLatents> initialLatents(GenerationRequest request, GenerationRequest.Settings settings, Mode mode,
                                      Schedule schedule, int firstStep, ImageInputs images) {
        int lh = request.height() / 8;
        int lw = request.width() / 8;
        List<StartLatents> out = new ArrayList<>();
        for (int i = 0; i < request.count(); i++) {
            TorchGenerator gen = new TorchGenerator(settings.seed() + i);
            boolean injected = i == 0;
            if (!mode.fromInitImage()) {
                Tensor noise = injected && request.initialLatents() != null ? request.initialLatents().copy() : gen.randn(16, 1, lh, lw);
                out.add(new StartLatents(noise, noise, null));
                continue;
            }
            Tensor eps = injected && request.initImageNoise() != null ? request.initImageNoise() : gen.randn(16, lh, lw);
            Tensor imageLatents = vae.toPipelineSpace(images.initImage().sample(eps)).reshape(16, 1, lh, lw);
            Tensor noise = injected && request.initialLatents() != null ? request.initialLatents().copy() : gen.randn(16, 1, lh, lw);
            float[] start = new float[noise.numel()];
            schedule.scaleNoise(firstStep, imageLatents.data(), noise.data(), start);
            // The reference's inpainting also samples the masked image's posterior (a third draw) but never uses it.
            out.add(new StartLatents(new Tensor(start, 16, 1, lh, lw), noise, imageLatents));
        }
        return out;
    }

    /** The mode's additions to the denoising loop: inpainting's blend, the ControlNet's hints. */
    Denoiser.Hooks hooks(Mode mode, GenerationRequest.Settings settings, ImageInputs images, List<StartLatents> starts,
                         Schedule schedule) {
        java.util.function.Supplier<ZImageTransformer.ResidualHook> residuals = images.controlContext() == null ? null
                : () -> controlNet.hook(List.of(images.controlContext()), settings.controlScale(), refinerRouting, null);
        if (mode != Mode.INPAINT) {
            return new Denoiser.Hooks(null, residuals);
        }
        float[] keepMask = images.latentMask();
        return new Denoiser.Hooks((image, sigmaIndex, latents) -> {
            StartLatents s = starts.get(image);
            float[] init = new float[latents.length];
            if (sigmaIndex < schedule.numSteps()) {
                schedule.scaleNoise(sigmaIndex, s.imageLatents().data(), s.noise().data(), init);
            } else {
                System.arraycopy(s.imageLatents().data(), 0, init, 0, init.length); // the last step lands on the clean image
            }
            InpaintMask.blend(keepMask, init, latents);
        }, residuals);
    }

    /** Stage 4: latents → images. The transformer's pages leave the resident set first (the OS keeps them cached). */
    List<GeneratedImage> decode(GenerationRequest request, GenerationRequest.Settings settings, List<Tensor> finals,
                                PipelineListener listener, Cancellation cancel) {
        transformerWeights.releaseResidentPages();
        if (releaseBeforeDecode) {
            long freed = transformer.releasePreparedWeights();
            if (freed > 0) {
                preparedReleased = true;
                LOG.log(System.Logger.Level.INFO, String.format(java.util.Locale.ROOT,
                        "freed the transformer's prepared weights (%.2f GB) before decoding", freed / 1e9));
            }
        }
        listener.stage(PipelineListener.Stage.DECODING);
        int lh = request.height() / 8;
        int lw = request.width() / 8;
        List<GeneratedImage> out = new ArrayList<>();
        for (int i = 0; i < finals.size(); i++) {
            checkCancelled(cancel);
            Tensor lat = finals.get(i);
            Tensor decoded = vae.decode(lat.reshape(16, lh, lw));
            NonFinite.check(decoded.data(), "the VAE decoder output (image " + i + ")");
            listener.decoded(i, decoded);
            UInt8Image image = ImageTensors.fromDecoded(decoded);
            long seed = settings.seed() + i;
            GenerationMetadata meta = new GenerationMetadata(request.prompt(), request.negativePrompt(), settings.steps(), "Euler",
                    settings.guidance(), request.cfgNormalization(), request.cfgTruncation(), seed, request.width(), request.height(),
                    files.name(), modelHash(), schedulerConfig.shift(), null, request.maxSequenceLength(), precision(),
                    VERSION, extraMetadata(request, settings));
            out.add(new GeneratedImage(image, seed, meta, lat));
        }
        return out;
    }

    private Map<String, String> extraMetadata(GenerationRequest request, GenerationRequest.Settings settings) {
        Map<String, String> extra = new java.util.LinkedHashMap<>();
        extra.put("Variant", variant.displayName());
        Mode mode = Mode.of(request);
        if (mode.fromInitImage()) {
            extra.put("Denoising strength", Double.toString(settings.strength()));
        }
        if (mode != Mode.TEXT_TO_IMAGE) {
            extra.put("Mode", mode.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
        }
        if (request.controlImage() != null) {
            extra.put("ControlNet", controlNet.describeLayout() + ", "
                    + (settings.controlType() == null ? "control map" : settings.controlType().cliName())
                    + ", scale " + settings.controlScale() + (controlNet.supportsInpaint() ? ", refiner hints " + refinerRouting.name().toLowerCase(java.util.Locale.ROOT) : ""));
        }
        if (!boundLoras.isEmpty()) {
            extra.put("LoRAs", String.join(", ", boundLoras.stream()
                    .map(l -> l.file().getFileName() + ":" + l.strength()).toList()));
        }
        return extra;
    }

    /**
     * Encodes the prompts (and, where guidance is on, the negative prompts) of these requests that are not
     * cached yet, in one text-encoder session, so later {@link #generate} calls with them skip the text
     * encoder. Keeps at least as many prompts cached as this needs.
     */
    public void cachePrompts(List<GenerationRequest> requests) throws IOException {
        java.util.LinkedHashMap<String, PromptTokens> distinct = new java.util.LinkedHashMap<>();
        for (GenerationRequest r : requests) {
            PromptTokens pos = tokenizer.chatIds(r.prompt(), r.maxSequenceLength());
            distinct.putIfAbsent(java.util.Arrays.toString(pos.ids()), pos);
            if (r.resolve(variant).cfg().enabled()) {
                PromptTokens neg = tokenizer.chatIds(r.negativePrompt(), r.maxSequenceLength());
                distinct.putIfAbsent(java.util.Arrays.toString(neg.ids()), neg);
            }
        }
        promptCache.capacity(Math.max(promptCacheSize, distinct.size()));
        features(List.copyOf(distinct.values()));
    }

    /** How many prompts' features stay cached (default {@value #DEFAULT_PROMPT_CACHE}); 0 turns the cache off. */
    public void promptCacheSize(int entries) {
        promptCache.capacity(entries);
        promptCacheSize = entries;
    }

    /**
     * The caption features of these prompts, from the cache where it has them; the text encoder is mapped
     * only when one is missing, and unmapped again before this returns.
     */
    private List<Tensor> features(List<PromptTokens> prompts) throws IOException {
        List<Tensor> out = new ArrayList<>();
        Qwen3TextEncoder enc = null;
        try {
            for (PromptTokens t : prompts) {
                Tensor f = promptCache.get(t.ids());
                if (f == null) {
                    if (enc == null) {
                        enc = Qwen3TextEncoder.open(files.textEncoder(), textEncoderConfig, backend);
                    }
                    f = enc.encode(t.ids());
                    promptCache.put(t.ids(), f);
                }
                out.add(f);
            }
        } finally {
            if (enc != null) {
                enc.close();
            }
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
            java.nio.file.attribute.FileTime modified = java.nio.file.Files.getLastModifiedTime(key);
            ReadLora cached = loraFiles.get(key);
            if (cached == null || !cached.modified().equals(modified)) {
                cached = new ReadLora(LoraFile.read(key), modified);
                loraFiles.put(key, cached);
            }
            applied.add(new LoraTensorSource.Applied(cached.file(), spec.strength()));
        }
        LoraTensorSource bound = LoraTensorSource.bind(transformerWeights, applied, options.loraMode(),
                options.loraIgnoreUnplaced());
        transformer = new ZImageTransformer(bound, transformerConfig, backend);
        prepareTransformer();
        boundLoras = List.copyOf(loras);
        loraReport = bound.report();
        return loraReport;
    }

    /**
     * The backend's one-time weight conversion (8-bit weights to int8 on oneDNN; nothing elsewhere). The
     * converted copy is what the products read from then on, so the mapped file's pages leave the resident set.
     */
    private void prepareTransformer() {
        weightPreparation = transformer.prepareWeights();
        preparedReleased = false;
        if (weightPreparation.prepared()) {
            transformerWeights.releaseResidentPages();
            LOG.log(System.Logger.Level.INFO, "transformer weights prepared: " + weightPreparation);
        }
    }

    /**
     * For a run that generates once (the {@code generate} command): free the transformer's prepared copies
     * (oneDNN's int8 rows of 8-bit weights, its prepacked bf16 weights) before the VAE decodes, so that their
     * memory — anonymous, unlike the mapped file, whose pages are dropped there anyway — is not held beside
     * the decode's. A later generation prepares them again (seconds: the 8-bit conversion, the packing), so
     * a server or a batch keeps them (the default).
     */
    public synchronized void releaseTransformerBeforeDecode(boolean release) {
        this.releaseBeforeDecode = release;
    }

    /** The backend's preparation of the transformer's weights at load: its time is part of loading. */
    public io.github.zimage4j.kernels.WeightPreparation weightPreparation() {
        return weightPreparation;
    }

    private static void checkCancelled(Cancellation cancel) {
        if (cancel.isCancelled() || Thread.currentThread().isInterrupted()) {
            throw new CancellationException("cancelled");
        }
    }

    /** How the transformer computed, e.g. "BF16 weights, float32 products (java)". */
    private String precision() {
        io.github.zimage4j.io.DType dtype = transformer.weightDtype();
        String products = weightPreparation.products() != null ? weightPreparation.products()
                : backend.float32Products(dtype) ? "float32" : "bf16";
        return dtype.name() + " weights, " + products
                + " products (" + backend.name() + ")";
    }

    /**
     * The A1111-style hash written into images (null where the file could not be read). Hashing starts in
     * the background at load (seconds for 12 GB, cached per file afterwards); this waits for it.
     */
    public String modelHash() {
        return modelHash.join();
    }

    private static String versionOf() {
        String v = ZImagePipeline.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    /** The loaded ControlNet, or null. */
    public ZImageControlNet controlNet() {
        return controlNet;
    }

    @Override
    public void close() {
        if (controlNet != null) {
            controlNet.close();
        }
        vae.close();
        transformerWeights.close();
    }
}
