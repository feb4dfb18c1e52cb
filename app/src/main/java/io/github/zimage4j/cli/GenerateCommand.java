package io.github.zimage4j.cli;

import io.github.zimage4j.bench.Memory;
import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.io.TextFiles;
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
import io.github.zimage4j.pipeline.ZImagePipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
import java.util.concurrent.locks.ReentrantLock;

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

    @Mixin
    ModelOptions modelOptions;

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

    @Option(names = {"-g", "--guidance"}, description = "Guidance scale g (= CFG scale − 1), 0 to 50. Default: 0 for Turbo, 4 for base.")
    Double guidance;

    @Option(names = "--cfg-normalization", defaultValue = "0", description = "Cap ‖guided‖ at c·‖cond‖; 0 = off, 1 = diffusers' True. Default: ${DEFAULT-VALUE}.")
    double cfgNormalization;

    @Option(names = "--cfg-truncation", defaultValue = "1.0", description = "Skip guidance once 1 − σ exceeds this, 0 to 1; 1 = never. Default: ${DEFAULT-VALUE}.")
    double cfgTruncation;

    @Option(names = {"-s", "--seed"}, description = "Seed of the first image (default: random; always printed).")
    Long seed;

    @Option(names = {"-b", "--batch"}, defaultValue = "1", description = "Number of images (seeds S … S+N−1), at most "
            + GenerationRequest.MAX_COUNT + ". Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = {"-o", "--output"}, defaultValue = "zimage-{seed}.png", paramLabel = "PATTERN",
            description = "Output PNG; {seed} and {index} are replaced (with --batch > 1 and neither, -{index} is added to the file name). "
                    + "An existing file is not replaced (see --overwrite). Default: ${DEFAULT-VALUE}.")
    String output;

    @Option(names = "--overwrite", description = "Replace existing output files (default: refuse before any work).")
    boolean overwrite;

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

    @Option(names = {"-v", "--verbose"}, description = "Print timings per stage and the peak resident memory.")
    boolean verbose;

    private final PrintStream err = System.err;

    @Override
    public Integer call() throws Exception {
        modelOptions.applyCompute(err);
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
        List<Path> targets = outputs(firstSeed, (long) request.width() * request.height());
        ModelFiles files = modelOptions.files();
        ZImagePipeline.Options options = modelOptions.pipelineOptions().withControlNet(controlNet, routing)
                .withLoras(mode, loraIgnoreUnmatched);

        Cancellation cancel = new Cancellation();
        ReentrantLock writing = new ReentrantLock();
        long t0 = System.nanoTime();
        try (InterruptGuard _ = new InterruptGuard(err, cancel, writing, "no image written for unfinished work");
             ZImagePipeline pipe = ZImagePipeline.load(files, options)) {
            pipe.releaseTransformerBeforeDecode(true); // one generation: its decode needs the memory more
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
                Path written;
                writing.lock();
                try {
                    if (cancel.isCancelled()) {
                        return 130;
                    }
                    written = write(targets.get(i), img);
                } finally {
                    writing.unlock();
                }
                System.out.println(written + "  (seed " + img.seed() + ")");
            }
        } catch (CancellationException e) {
            return 130;
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
            io.github.zimage4j.io.Paths.requireReadableFile(promptFile, "--prompt-file");
            // Strictly UTF-8 (a BOM is dropped); errors name the byte offset, a folder, a link loop, permissions.
            return TextFiles.readUtf8(promptFile).strip();
        }
        return positionalPrompt != null ? positionalPrompt : prompt;
    }

    /**
     * The output path of every image, checked before any work: the pattern is not empty, its folder exists
     * and is writable, no target is a folder, none exists unless --overwrite, and the disk has room.
     */
    private List<Path> outputs(long firstSeed, long pixels) throws java.io.IOException {
        if (output.isBlank()) {
            throw new IllegalArgumentException("--output: the pattern is empty");
        }
        String pattern = output;
        if (batch > 1 && !pattern.contains("{seed}") && !pattern.contains("{index}")) {
            pattern = withIndexSuffix(pattern);
        }
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            Path p = Path.of(pattern.replace("{seed}", Long.toString(firstSeed + i)).replace("{index}", Integer.toString(i)));
            Path dir = p.toAbsolutePath().getParent();
            if (dir != null && i == 0) {
                checkFolder(dir, (long) batch * (pixels * 3 + 65536));
            }
            if (Files.isDirectory(p)) {
                throw new IllegalArgumentException("--output: " + p + " is a folder; give a file name (e.g. " + p.resolve("image.png") + ")");
            }
            if (!overwrite && Files.exists(p)) {
                throw new IllegalArgumentException("--output: " + p + " exists; choose another name or pass --overwrite to replace it");
            }
            if (out.contains(p)) {
                throw new IllegalArgumentException("--output: pattern " + output + " gives the same file for several images");
            }
            out.add(p);
        }
        return out;
    }

    /** Adds {@code -{index}} to the file name, before its extension (never to a folder of the path). */
    static String withIndexSuffix(String pattern) {
        int slash = Math.max(pattern.lastIndexOf('/'), pattern.lastIndexOf(java.io.File.separatorChar));
        int dot = pattern.lastIndexOf('.');
        return dot > slash + 1 ? pattern.substring(0, dot) + "-{index}" + pattern.substring(dot) : pattern + "-{index}";
    }

    private static void checkFolder(Path dir, long bytesNeeded) throws java.io.IOException {
        java.nio.file.attribute.BasicFileAttributes a = io.github.zimage4j.io.Paths.attributes(dir, "--output: folder");
        if (!a.isDirectory()) {
            throw new IllegalArgumentException("--output: " + dir + " is not a folder");
        }
        if (!Files.isWritable(dir)) {
            throw new IllegalArgumentException("--output: folder " + dir + ": permission denied (not writable)");
        }
        long free = Files.getFileStore(dir).getUsableSpace();
        if (free < bytesNeeded) {
            throw new IllegalArgumentException("--output: no space left in " + dir + ": " + free / 1024 + " KB free, the images need up to "
                    + bytesNeeded / 1024 + " KB");
        }
    }

    /**
     * Writes one image atomically; an existing file is replaced only with --overwrite. A file that appeared
     * during the generation is kept and the image goes to the next free name instead (name-1.png, …): minutes
     * of work are never thrown away, nothing is replaced silently.
     */
    private Path write(Path target, GeneratedImage img) throws java.io.IOException {
        Path candidate = target;
        for (int n = 1; ; n++) {
            try {
                PngFiles.write(candidate, img.image(), img.metadata(), overwrite);
                if (!candidate.equals(target)) {
                    err.println("zimage4j: " + target + " appeared meanwhile; wrote " + candidate + " instead");
                }
                return candidate;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                String name = target.getFileName().toString();
                int dot = name.lastIndexOf('.');
                String next = dot > 0 ? name.substring(0, dot) + "-" + n + name.substring(dot) : name + "-" + n;
                candidate = target.resolveSibling(next);
            }
        }
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
