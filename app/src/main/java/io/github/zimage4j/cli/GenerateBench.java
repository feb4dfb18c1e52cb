package io.github.zimage4j.cli;

import io.github.zimage4j.bench.BenchResult;
import io.github.zimage4j.bench.Memory;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.Denoiser;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.tensor.Tensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code bench --components generate}: whole text-to-image generations through the pipeline, one per
 * variant, each stage timed on its own: loading, prompt encoding (reading the text encoder's weights
 * included), every denoising step, VAE decode, 8-bit conversion, PNG encoding, any one-time weight
 * preparation a backend reports ({@link WeightPreparation}), the total wall time and the peak resident
 * memory. Turbo samples at guidance 0 (one transformer pass per step); base at guidance 4 with a negative
 * prompt, the conditional and unconditional samples going to the transformer in one forward call.
 */
final class GenerateBench {

    /** The negative prompt of base runs (any non-empty one costs the same). */
    static final String NEGATIVE_PROMPT = "blurry, low quality, distorted, watermark, text";

    private GenerateBench() {
    }

    /**
     * Steps per variant: each variant's default, unless {@code spec} gives "N" (every variant) or
     * "turbo=N" / "base=N" entries.
     */
    static Map<Variant, Integer> steps(List<Variant> variants, List<String> spec) {
        Map<Variant, Integer> out = new EnumMap<>(Variant.class);
        for (Variant v : variants) {
            out.put(v, v.defaultSteps());
        }
        for (String s : spec == null ? List.<String>of() : spec) {
            int eq = s.indexOf('=');
            String number = eq < 0 ? s : s.substring(eq + 1);
            int n;
            try {
                n = Integer.parseInt(number.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--steps: '" + s + "' is not N or VARIANT=N (e.g. 2 or base=2)");
            }
            if (n < 1) {
                throw new IllegalArgumentException("--steps: " + n + " is not at least 1 (in '" + s + "')");
            }
            if (eq < 0) {
                out.replaceAll((v, old) -> n);
            } else {
                Variant v = Variant.parse(s.substring(0, eq).trim());
                if (!out.containsKey(v)) {
                    throw new IllegalArgumentException("--steps: '" + s + "' names a variant that --variants " + variants
                            .stream().map(x -> x.name().toLowerCase(Locale.ROOT)).toList() + " does not run");
                }
                out.put(v, n);
            }
        }
        return out;
    }

    /**
     * The reports of one kind of work (backend and what) heard during a run, summed: a backend may report
     * each weight's copy on its own, as it makes it; and the stages they were heard in.
     */
    private static final class Preparation {
        final String backend;
        final String what;
        int tensors;
        int kept;
        long bytes;
        double seconds;
        final Set<String> stages = new LinkedHashSet<>();

        Preparation(WeightPreparation first) {
            backend = first.backend();
            what = first.what();
        }

        void add(WeightPreparation w, String stage) {
            tensors += w.tensors();
            kept += w.kept();
            bytes += w.bytes();
            seconds += w.seconds();
            stages.add(stage);
        }
    }

    /** Timestamps of the pipeline's stages, the steps and what the caption features look like. */
    private static final class Clock implements PipelineListener {
        final PrintStream log;
        final String label;
        volatile String stage = "load";
        long promptStart;
        long denoiseStart;
        long decodeStart;
        long decodedAt;
        int captionTokens;
        int negativeTokens;
        final List<Double> stepSeconds = new ArrayList<>();
        final List<Boolean> stepGuided = new ArrayList<>();

        Clock(PrintStream log, String label) {
            this.log = log;
            this.label = label;
        }

        @Override
        public void stage(Stage s) {
            long now = System.nanoTime();
            switch (s) {
                case ENCODING_PROMPT -> promptStart = now;
                case DENOISING -> denoiseStart = now;
                case DECODING -> decodeStart = now;
                default -> {
                }
            }
            stage = s == Stage.DENOISING ? "step 1" : s.name().toLowerCase(Locale.ROOT).replace('_', ' ');
        }

        @Override
        public void promptEmbeddings(List<Tensor> positive, List<Tensor> negative) {
            captionTokens = positive.getFirst().dim(0);
            negativeTokens = negative.isEmpty() ? 0 : negative.getFirst().dim(0);
        }

        @Override
        public void step(Denoiser.Step s) {
            stepSeconds.add(s.seconds());
            stepGuided.add(s.guided());
            stage = "step " + (s.index() + 2);
            log.printf("%s step %d/%d: %.2f s%s (resident: %s)%n", label, s.index() + 1, s.total(), s.seconds(),
                    s.guided() ? " (cond + uncond)" : "", Memory.residentBreakdown());
        }

        @Override
        public void decoded(int image, Tensor decoded) {
            decodedAt = System.nanoTime();
            stage = "8-bit conversion";
        }
    }

    /**
     * Runs each variant in turn (a fresh pipeline each, so prompt encoding and the first step read their
     * weights as a first image would, from the page cache where an earlier run left them) and adds its rows.
     */
    static void run(ModelFiles files, String backend, List<Variant> variants, Map<Variant, Integer> steps, int px, long seed,
                    String prompt, java.nio.file.Path saveImages, PrintStream log, BenchResult result) throws Exception {
        // Each variant samples with its released scheduler shift; a folder's scheduler config (one shift) would
        // give both variants the same one. The shift changes no timing.
        ModelFiles model = new ModelFiles(files.name(), files.transformer(), files.transformerConfig(), files.textEncoder(),
                files.textEncoderConfig(), files.tokenizer(), files.vae(), files.vaeConfig(), null);
        for (Variant v : variants) {
            runOne(model, backend, v, steps.get(v), px, seed, prompt, saveImages, log, result);
        }
    }

    /** Where {@code --save-images} puts a variant's image: {@code <dir>/<variant>-<px>.png}. */
    static java.nio.file.Path savedImage(java.nio.file.Path dir, Variant variant, int px) {
        return dir.resolve(variant.name().toLowerCase(Locale.ROOT) + "-" + px + ".png");
    }

    private static void runOne(ModelFiles files, String backend, Variant variant, int steps, int px, long seed, String prompt,
                               java.nio.file.Path saveImages, PrintStream log, BenchResult result) throws Exception {
        String name = variant.name().toLowerCase(Locale.ROOT);
        String c = "generate-" + name + "-";
        String size = px + "x" + px;
        int full = variant.defaultSteps();
        boolean shortRun = steps < full;
        String runLabel = shortRun ? "SHORT RUN: " + steps + " of " + full + " steps" : steps + " steps";
        log.printf("generate %s %s, %s, guidance %s%n", variant.displayName(), size, runLabel, variant.defaultGuidance());

        System.gc(); // the previous variant's garbage should not count toward this one's peak
        boolean peakReset = Memory.resetPeak();
        Clock clock = new Clock(log, "generate " + name + " " + size);
        Map<List<String>, Preparation> preparations = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        double load;
        double hashWait;
        double generateWall;
        double png;
        long generated;
        GeneratedImage image;
        ZImageTransformerConfig dit;
        int latentChannels;
        double decoderFlops;
        try (WeightPreparation.Subscription ignored = WeightPreparation.listen(w -> {
            synchronized (preparations) {
                Preparation p = preparations.get(List.of(w.backend(), w.what()));
                if (p == null) {
                    p = new Preparation(w);
                    preparations.put(List.of(w.backend(), w.what()), p);
                    log.printf("%s: %s (first report, during %s)%n", clock.label, w, clock.stage);
                }
                p.add(w, clock.stage);
            }
        })) {
            try (ZImagePipeline pipe = ZImagePipeline.load(files, new ZImagePipeline.Options(backend, variant))) {
                load = seconds(t0);
                pipe.releaseTransformerBeforeDecode(true); // as the generate command does
                dit = pipe.transformerConfig();
                latentChannels = pipe.vaeConfig().latentChannels();
                decoderFlops = pipe.vaeConfig().decoderFlops(px / 8, px / 8);
                // The model hash (written into the image) is computed in the background from load on; waiting for it
                // here keeps its disk reads and SHA-256 out of the stages below (it is cached per file after the first run).
                long h = System.nanoTime();
                pipe.modelHash();
                hashWait = seconds(h);
                clock.stage = "before generation";
                GenerationRequest.Builder request = GenerationRequest.builder().prompt(prompt).size(px, px).steps(steps)
                        .seed(seed).guidance(variant.defaultGuidance());
                if (variant.defaultGuidance() > 0) {
                    request.negativePrompt(NEGATIVE_PROMPT);
                }
                long g = System.nanoTime();
                image = pipe.generate(request.build(), clock, new Cancellation()).getFirst();
                generated = System.nanoTime();
                generateWall = (generated - g) / 1e9;
                clock.stage = "png";
                PngFiles.toBytes(image.image(), image.metadata());
                png = seconds(generated);
                clock.stage = "close";
            }
        }
        double total = seconds(t0) - hashWait;
        long peak = Memory.peakRssBytes();
        if (saveImages != null) {
            java.nio.file.Path at = savedImage(saveImages, variant, px);
            PngFiles.write(at, image.image(), image.metadata(), false);
            log.printf("generate %s %s: image written to %s (after the timing)%n", name, size, at);
        }

        double prompting = (clock.denoiseStart - clock.promptStart) / 1e9;
        double decode = (clock.decodedAt - clock.decodeStart) / 1e9;
        double convert = (generated - clock.decodedAt) / 1e9;
        double[] st = clock.stepSeconds.stream().mapToDouble(Double::doubleValue).toArray();
        double stepSum = Arrays.stream(st).sum();
        double between = generateWall - prompting - stepSum - decode - convert;

        result.add(new BenchResult.Row(c + "load", size, load, 0, 1,
                "open + check every component, map transformer and VAE (pages are read on first use)"));
        result.add(new BenchResult.Row(c + "model-hash", size, hashWait, 0, 1,
                "waited for the background SHA-256 of the transformer file (cached per file after the first run); not in the total"));
        result.add(new BenchResult.Row(c + "prompt", size, prompting, 0, 1, (clock.negativeTokens > 0
                ? "prompt (" + clock.captionTokens + " tokens) and negative prompt (" + clock.negativeTokens + " tokens)"
                : "prompt (" + clock.captionTokens + " tokens)") + ": tokenize + text encoder, mapping and reading its weights"));
        if (preparations.isEmpty()) {
            result.add(new BenchResult.Row(c + "weight-prep", size, 0, 0, 1, "no one-time weight preparation reported by the backend"));
        }
        int kind = 0;
        for (Preparation p : preparations.values()) {
            kind++;
            result.add(new BenchResult.Row(c + "weight-prep" + (preparations.size() > 1 ? "-" + kind : ""), size, p.seconds, 0, 1,
                    String.format(Locale.ROOT, "%s: %s, %d weights%s%s, during %s (inside %s time)", p.backend, p.what, p.tensors,
                            p.bytes > 0 ? String.format(Locale.ROOT, ", %.2f GB", p.bytes / 1e9) : "",
                            p.kept > 0 ? String.format(Locale.ROOT, " (%d of precision-sensitive layers left as stored)", p.kept) : "",
                            String.join(", ", p.stages), p.stages.size() > 1 ? "those stages'" : "that stage's")));
        }
        int lat = px / 8;
        for (int i = 0; i < st.length; i++) {
            boolean guided = clock.stepGuided.get(i);
            double flops = dit.forwardFlops(lat, lat, clock.captionTokens) + (guided ? dit.forwardFlops(lat, lat, clock.negativeTokens) : 0);
            String note = (guided ? "cond + uncond in one transformer call (the samples run one after the other)" : "one transformer pass")
                    + (i == 0 ? "; first step: reads the transformer's weights" : "")
                    + (shortRun && i == st.length - 1 ? "; " + runLabel : "");
            result.add(new BenchResult.Row(c + "step-" + (i + 1), size, st[i], flops, 1, note));
        }
        result.add(new BenchResult.Row(c + "decode", size, decode, decoderFlops, 1,
                "VAE decode of the " + latentChannels + "-channel latents (untiled)"));
        result.add(new BenchResult.Row(c + "convert-8bit", size, convert, 0, 1, "decoder output to 8-bit RGB + image metadata"));
        result.add(new BenchResult.Row(c + "png", size, png, 0, 1, "PNG encoding in memory, with the metadata chunks (as generate writes it)"));
        result.add(new BenchResult.Row(c + "other", size, between, 0, 1,
                "in the generation between the stages above: initial noise, releasing pages, progress reporting"));
        result.add(new BenchResult.Row(c + "total", size, total, 0, 1,
                runLabel + ", guidance " + variant.defaultGuidance() + ": wall time of load + generation + PNG"));
        if (shortRun) {
            // Steps after the first run from resident weights, so they are the better estimate of the missing ones.
            double perStep = st.length > 1 ? median(Arrays.copyOfRange(st, 1, st.length)) : st[0];
            result.add(new BenchResult.Row(c + "total-extrapolated", size, total + (full - steps) * perStep, 0, 1, String.format(
                    "EXTRAPOLATED to %d steps, not measured: total + %d x %.2f s (%s)", full, full - steps, perStep,
                    st.length > 1 ? "median step after the first" : "the one step, cold")));
        }
        result.put(c.replace('-', '_') + "peak_rss_bytes", peak);
        if (!peakReset) {
            result.put(c.replace('-', '_') + "peak_rss_note", "VmHWM could not be reset: peak since the process started");
        }
        log.printf("generate %s %s: total %.2f s, peak RSS %.2f GB%n", name, size, total, peak / 1e9);
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
