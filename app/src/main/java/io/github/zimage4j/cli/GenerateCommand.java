package io.github.zimage4j.cli;

import io.github.zimage4j.bench.Memory;
import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.lora.LoraMode;
import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.lora.LoraTensorSource;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.Denoiser;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Callable;

/** {@code zimage4j generate}: text to image. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate images from a prompt with Z-Image or Z-Image-Turbo; from an init image (--init-image, --strength),",
                "inpaint it (--mask), or steer it with a ControlNet (--controlnet, --control-image).",
                "",
                "Guidance: --guidance g mixes pos + g·(pos − neg), the form Z-Image and diffusers use. The usual CFG scale w of "
                        + "A1111, ComfyUI or stable-diffusion.cpp is w = g + 1 (base model card: g = 4, i.e. w = 5). Turbo is "
                        + "distilled for g = 0 (no guidance, no negative prompt, one forward per step).",
                "Seeds: image i of --batch N uses seed S + i; the noise matches diffusers with torch.Generator(\"cpu\").manual_seed(S + i).",
                ""})
final class GenerateCommand implements Callable<Integer> {

    @Parameters(arity = "0..1", paramLabel = "PROMPT", description = "The prompt (or use -p / --prompt-file).")
    String positionalPrompt;

    @Option(names = {"-p", "--prompt"}, description = "The prompt.")
    String prompt;

    @Option(names = "--prompt-file", paramLabel = "FILE", description = "Read the prompt from a UTF-8 text file.")
    Path promptFile;

    @Option(names = {"-n", "--negative-prompt"}, description = "What to avoid (used with guidance > 0). Default: empty.")
    String negativePrompt;

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

    @Option(names = {"-W", "--width"}, description = "Width in pixels, a multiple of 16. Default: the init image's (rounded down to a multiple of 16), else 1024.")
    Integer width;

    @Option(names = {"-H", "--height"}, description = "Height in pixels, a multiple of 16. Default: the init image's (rounded down to a multiple of 16), else 1024.")
    Integer height;

    @Option(names = "--init-image", paramLabel = "FILE",
            description = "Image to image: start from this PNG/JPEG (resized with Lanczos to the output size) instead of pure noise.")
    Path initImage;

    @Option(names = "--strength", paramLabel = "S",
            description = "How much of the schedule re-noises the init image, 0..1 (1 = ignore its content). Default: 0.6; 1.0 with --mask.")
    Double strength;

    @Option(names = "--mask", paramLabel = "FILE",
            description = "Inpainting mask for --init-image: white (≥ 128) = repaint, black = keep. Resized to the output size.")
    Path mask;

    @Option(names = "--controlnet", paramLabel = "FILE",
            description = "A Z-Image-Turbo-Fun-Controlnet-Union file (1.0, 2.0, 2.1 or Lite; detected from the weights).")
    Path controlNet;

    @Option(names = "--control-image", paramLabel = "FILE",
            description = "Control image for --controlnet (resized to the output size). With --init-image and --mask, a 2.x ControlNet inpaints.")
    Path controlImage;

    @Option(names = "--control-type", paramLabel = "TYPE",
            description = "canny (edges computed here), gray (converted here), or depth|pose|hed|tile (the image is already the map). Default: the image is used as given.")
    String controlType;

    @Option(names = "--control-scale", paramLabel = "S", description = "Strength of the ControlNet hints. Default: 0.75 (diffusers).")
    Double controlScale;

    @Option(names = "--controlnet-refiner-routing", paramLabel = "diffusers|videox", defaultValue = "diffusers",
            description = "Where a 2.x ControlNet's refiner hints go: diffusers (reference, default) or videox (the original VideoX-Fun code: into the base noise refiner). Default: ${DEFAULT-VALUE}.")
    String refinerRouting;

    @Option(names = "--steps", description = "Denoising steps. Default: 8 for Turbo, 50 for base.")
    Integer steps;

    @Option(names = {"-g", "--guidance"}, description = "Guidance scale g (= CFG scale − 1). Default: 0 for Turbo, 4 for base.")
    Double guidance;

    @Option(names = "--cfg-normalization", defaultValue = "0", description = "Cap ‖guided‖ at c·‖cond‖; 0 = off, 1 = diffusers' True. Default: ${DEFAULT-VALUE}.")
    double cfgNormalization;

    @Option(names = "--cfg-truncation", defaultValue = "1.0", description = "Skip guidance once 1 − σ exceeds this; 1 = never. Default: ${DEFAULT-VALUE}.")
    double cfgTruncation;

    @Option(names = {"-s", "--seed"}, description = "Seed of the first image (default: random; always printed).")
    Long seed;

    @Option(names = {"-b", "--batch"}, defaultValue = "1", description = "Number of images (seeds S … S+N−1). Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = {"-o", "--output"}, defaultValue = "zimage-{seed}.png", paramLabel = "PATTERN",
            description = "Output PNG; {seed} and {index} are replaced (with --batch > 1 and neither, -{index} is added). Default: ${DEFAULT-VALUE}.")
    String output;

    @Option(names = "--max-sequence-length", defaultValue = "512", description = "Prompt token limit; longer prompts are truncated. Default: ${DEFAULT-VALUE}.")
    int maxSequenceLength;

    @Option(names = "--lora", paramLabel = "FILE[:STRENGTH]",
            description = "Apply a LoRA, strength 1 unless given (repeatable; strengths add). Any key format: diffusers/PEFT, "
                    + "ai-toolkit, kohya/musubi, ComfyUI, dotted lora.down, fused qkv, LoKr. `zimage4j lora-info FILE` shows what it targets.")
    List<String> loras = new ArrayList<>();

    @Option(names = "--lora-mode", defaultValue = "runtime", paramLabel = "runtime|merged",
            description = "runtime: the low-rank product is added in each layer (any weight dtype, quantized included; measured +12%% per step "
                    + "with rank 32 on every layer); merged: the touched weights are copied once with the update added (F32/BF16/F16 weights; more memory). "
                    + "Default: ${DEFAULT-VALUE}.")
    String loraMode;

    @Option(names = "--lora-ignore-unmatched",
            description = "Apply the LoRA keys that fit and skip the rest (default: keys that fit no weight are an error listing them).")
    boolean loraIgnoreUnmatched;

    @Option(names = "--backend", defaultValue = "auto", description = "Compute backend: auto, java or onednn. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--threads", description = "Compute threads (default: physical cores).")
    Integer threads;

    @Option(names = {"-v", "--verbose"}, description = "Print timings per stage and the peak resident memory.")
    boolean verbose;

    private final PrintStream err = System.err;

    @Override
    public Integer call() throws Exception {
        if (threads != null) {
            Parallel.setThreads(threads);
        }
        String text = promptText();
        // Everything that can be wrong with the request is checked before any model file is read.
        long firstSeed = seed != null ? seed : new SecureRandom().nextLong() & 0xFFFFFFFFL;
        List<LoraSpec> loraSpecs = new ArrayList<>();
        for (String l : loras) {
            LoraSpec spec = LoraSpec.parse(l);
            if (!Files.isRegularFile(spec.file())) {
                throw new IllegalArgumentException("--lora: " + spec.file() + " is not a file");
            }
            loraSpecs.add(spec);
        }
        LoraMode mode = LoraMode.parse(loraMode);
        GenerationRequest request = GenerationRequest.builder().prompt(text).negativePrompt(negativePrompt)
                .size(width == null ? 0 : width, height == null ? 0 : height).steps(steps).guidance(guidance)
                .cfgNormalization(cfgNormalization).cfgTruncation(cfgTruncation).seed(firstSeed).count(batch)
                .maxSequenceLength(maxSequenceLength)
                .initImage(initImage == null ? null : readImage("--init-image", initImage, false))
                .strength(strength)
                // Read as RGB: the pipeline resizes, then converts to gray, in diffusers' order.
                .mask(mask == null ? null : readImage("--mask", mask, false))
                .controlImage(controlImage == null ? null : readImage("--control-image", controlImage, false))
                .controlType(controlType == null ? null : ControlType.parse(controlType))
                .controlScale(controlScale)
                .loras(loraSpecs)
                .build();
        if (controlImage != null && controlNet == null) {
            throw new IllegalArgumentException("--control-image needs --controlnet FILE");
        }
        if (controlNet != null && controlImage == null) {
            throw new IllegalArgumentException("--controlnet needs --control-image FILE (the map it follows)");
        }
        if (controlNet != null && !Files.exists(controlNet)) {
            throw new IllegalArgumentException("--controlnet: " + controlNet + " does not exist");
        }
        RefinerRouting routing = RefinerRouting.parse(refinerRouting);
        for (String note : request.notes()) {
            err.println("note: " + note);
        }
        List<Path> targets = outputs(firstSeed);
        ModelFiles files = ModelFiles.resolve(model, new ModelFiles.Overrides(transformer, textEncoder, vae, tokenizer));
        Variant forced = variant == null ? null : Variant.parse(variant);

        Cancellation cancel = new Cancellation();
        // Ctrl-C stops between steps; a PNG already being written is finished first (the JVM exits when the
        // hook returns), so an interrupt never leaves a temporary or partial file behind.
        java.util.concurrent.locks.ReentrantLock writing = new java.util.concurrent.locks.ReentrantLock();
        Thread hook = new Thread(() -> {
            cancel.cancel();
            try {
                if (writing.tryLock(30, java.util.concurrent.TimeUnit.SECONDS)) {
                    writing.unlock();
                }
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            err.println();
            err.println("zimage4j: interrupted; no image written for unfinished work");
        });
        Runtime.getRuntime().addShutdownHook(hook);
        long t0 = System.nanoTime();
        ZImagePipeline.Options options = new ZImagePipeline.Options(backend, forced).withControlNet(controlNet, routing)
                .withLoras(mode, loraIgnoreUnmatched);
        try (ZImagePipeline pipe = ZImagePipeline.load(files, options)) {
            if (!loraSpecs.isEmpty()) {
                long tl = System.nanoTime();
                LoraTensorSource.Report report = pipe.useLoras(loraSpecs);
                report.lines().forEach(err::println);
                err.printf("LoRAs (%s): %d tensors applied, %d duplicates skipped, %d unplaced keys ignored%s%n",
                        mode.name().toLowerCase(java.util.Locale.ROOT), report.appliedTensors(), report.skippedDuplicates(),
                        report.unplacedKeys().size(), verbose ? String.format(" · %.1f s", (System.nanoTime() - tl) / 1e9) : "");
            }
            int nSteps = steps != null ? steps : pipe.variant().defaultSteps();
            double g = guidance != null ? guidance : pipe.variant().defaultGuidance();
            err.printf("%s (%s) · %dx%d · %d steps · guidance %s · seed %d%s · backend %s · %d threads%n",
                    files.name(), pipe.variant().displayName(), request.width(), request.height(), nSteps, trim(g), firstSeed,
                    batch > 1 ? "…" + (firstSeed + batch - 1) : "", pipe.backend().name(), Parallel.get().threads());
            if (verbose) {
                err.printf("loaded in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            }
            Progress progress = new Progress(err, System.console() != null, verbose);
            List<GeneratedImage> images = pipe.generate(request, progress, cancel);
            for (int i = 0; i < images.size(); i++) {
                GeneratedImage img = images.get(i);
                writing.lock();
                try {
                    if (cancel.isCancelled()) {
                        return 130;
                    }
                    PngFiles.write(targets.get(i), img.image(), img.metadata());
                } finally {
                    writing.unlock();
                }
                System.out.println(targets.get(i) + "  (seed " + img.seed() + ")");
            }
        } catch (CancellationException e) {
            return 130;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running: the JVM is already exiting.
            }
        }
        if (verbose) {
            err.printf("total %.1f s · peak resident memory %.2f GB%n", (System.nanoTime() - t0) / 1e9, Memory.peakRssBytes() / 1e9);
        }
        return 0;
    }

    /** An image option's file, decoded before any model is read; a bad file is an error naming the option. */
    private static UInt8Image readImage(String option, Path file, boolean gray) throws java.io.IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(option + ": " + file + " is not a file");
        }
        try {
            return gray ? ImageFiles.readGray(file) : ImageFiles.readRgb(file);
        } catch (java.io.IOException | RuntimeException e) {
            throw new IllegalArgumentException(option + ": cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private String promptText() throws java.io.IOException {
        int given = (positionalPrompt != null ? 1 : 0) + (prompt != null ? 1 : 0) + (promptFile != null ? 1 : 0);
        if (given == 0) {
            throw new IllegalArgumentException("no prompt: give it as an argument, with -p, or with --prompt-file FILE");
        }
        if (given > 1) {
            throw new IllegalArgumentException("give the prompt once: as an argument, with -p, or with --prompt-file");
        }
        if (promptFile != null) {
            if (!Files.isRegularFile(promptFile)) {
                throw new IllegalArgumentException("--prompt-file: " + promptFile + " is not a file");
            }
            return Files.readString(promptFile).strip();
        }
        return positionalPrompt != null ? positionalPrompt : prompt;
    }

    /** The output path of every image; the folder must exist. */
    private List<Path> outputs(long firstSeed) {
        String pattern = output;
        if (batch > 1 && !pattern.contains("{seed}") && !pattern.contains("{index}")) {
            int dot = pattern.lastIndexOf('.');
            pattern = dot > 0 ? pattern.substring(0, dot) + "-{index}" + pattern.substring(dot) : pattern + "-{index}";
        }
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            Path p = Path.of(pattern.replace("{seed}", Long.toString(firstSeed + i)).replace("{index}", Integer.toString(i)));
            Path dir = p.toAbsolutePath().getParent();
            if (dir != null && !Files.isDirectory(dir)) {
                throw new IllegalArgumentException("--output: folder " + dir + " does not exist");
            }
            if (out.contains(p)) {
                throw new IllegalArgumentException("--output: pattern " + output + " gives the same file for several images");
            }
            out.add(p);
        }
        return out;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** A progress bar with step time and ETA on a terminal; plain lines otherwise (logs, pipes). */
    static final class Progress implements PipelineListener {
        private final PrintStream err;
        private final boolean terminal;
        private final boolean verbose;
        private long stageStart = System.nanoTime();
        private String lastStage;
        private double denoiseSeconds;

        Progress(PrintStream err, boolean terminal, boolean verbose) {
            this.err = err;
            this.terminal = terminal;
            this.verbose = verbose;
        }

        @Override
        public void stage(Stage stage) {
            long now = System.nanoTime();
            if (verbose && lastStage != null) {
                err.printf("%s took %.1f s%n", lastStage, (now - stageStart) / 1e9);
            }
            stageStart = now;
            lastStage = switch (stage) {
                case ENCODING_PROMPT -> "prompt encoding";
                case ENCODING_IMAGES -> "image encoding";
                case DENOISING -> "denoising";
                case DECODING -> "decoding";
            };
            err.println(lastStage + "…");
        }

        @Override
        public void step(Denoiser.Step s) {
            denoiseSeconds += s.seconds();
            int done = s.index() + 1;
            double eta = denoiseSeconds / done * (s.total() - done);
            String line = String.format("step %d/%d  %.1f s/step  ETA %s%s", done, s.total(), s.seconds(), duration(eta),
                    s.guided() ? "  (cfg)" : "");
            if (terminal) {
                int width = 30;
                int filled = width * done / s.total();
                err.print("\r[" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + line + "   ");
                if (done == s.total()) {
                    err.println();
                }
            } else {
                err.println(line);
            }
        }

        private static String duration(double seconds) {
            long s = Math.round(seconds);
            return s >= 60 ? (s / 60) + "m" + String.format("%02d", s % 60) + "s" : s + "s";
        }
    }
}
