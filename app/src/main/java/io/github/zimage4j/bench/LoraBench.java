package io.github.zimage4j.bench;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.kernels.AdapterMerge;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.lora.LoraFile;
import io.github.zimage4j.lora.LoraMode;
import io.github.zimage4j.lora.LoraTensorSource;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * The cost of LoRA modes on the full-size model: a random rank-r LoRA on every linear layer (kohya keys,
 * BF16, alpha = r), bound in runtime mode and timed against the plain model, forward for forward, back to
 * back. Merged mode runs exactly the plain model's kernels on same-dtype copies, so its per-step cost is the
 * plain forward; what it costs instead is the merge (timed on block 0 here) and the copies' memory.
 */
public final class LoraBench {

    private LoraBench() {
    }

    /** Writes (once) the random LoRA for the transformer with these shapes. */
    public static Path randomLora(Path dir, ZImageTransformerConfig cfg, int rank, long seed, PrintStream log) throws IOException {
        Path file = dir.resolve("lora-rank" + rank + "-" + cfg.nLayers() + "layers-bf16-seed" + seed + ".safetensors");
        if (Files.exists(file)) {
            return file;
        }
        log.printf("writing a random rank-%d LoRA on every linear layer to %s … (once)%n", rank, file);
        Random rnd = new Random(seed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (Map.Entry<String, long[]> e : cfg.expectedTensors().entrySet()) {
            long[] s = e.getValue();
            if (!e.getKey().endsWith(".weight") || s.length != 2) {
                continue;
            }
            String m = "lora_unet_" + e.getKey().substring(0, e.getKey().length() - ".weight".length()).replace('.', '_');
            w.addBf16(m + ".lora_down.weight", new long[]{rank, s[1]}, bf16(rnd, rank * (int) s[1], 1 / Math.sqrt(s[1])));
            w.addBf16(m + ".lora_up.weight", new long[]{s[0], rank}, bf16(rnd, (int) s[0] * rank, 0.01));
            w.addF32(m + ".alpha", new long[0], new float[]{rank});
        }
        Path tmp = dir.resolve(file.getFileName() + ".tmp");
        w.write(tmp);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return file;
    }

    private static short[] bf16(Random rnd, int n, double std) {
        short[] s = new short[n];
        for (int i = 0; i < n; i++) {
            s[i] = FloatFormats.floatToBf16((float) (rnd.nextGaussian() * std));
        }
        return s;
    }

    /** Times plain and runtime-LoRA forwards alternately, {@code runs} each, and block 0's merge. */
    public static void run(TensorSource weights, ZImageTransformerConfig cfg, ZImageTransformer plain, Backend be, Path loraFile,
                           int rank, List<ZImageTransformer.Input> in, String size, double flops, int runs,
                           BenchResult result, PrintStream log) throws IOException {
        long t0 = System.nanoTime();
        LoraFile lora = LoraFile.read(loraFile);
        LoraTensorSource runtime = LoraTensorSource.bind(weights, List.of(new LoraTensorSource.Applied(lora, 1.0)),
                LoraMode.RUNTIME, false);
        ZImageTransformer withLora = new ZImageTransformer(runtime, cfg, be);
        double bindSeconds = (System.nanoTime() - t0) / 1e9;
        log.printf("LoRA rank %d: read + bound in %.1f s, %d weights carry an update%n", rank, bindSeconds,
                runtime.touchedWeights().size());
        result.add(new BenchResult.Row("lora-read-bind", "rank " + rank, bindSeconds, 0, 1, runtime.touchedWeights().size() + " weights"));
        // JIT warm-up of the adapter kernels on a small image (the same code paths, a fraction of the time).
        ZImageTransformer.Input first = in.get(0);
        List<ZImageTransformer.Input> small = List.of(new ZImageTransformer.Input(
                io.github.zimage4j.tensor.Tensor.zeros(cfg.inChannels(), 1, 16, 16), first.capFeats(), first.t()));
        timeOnce(() -> withLora.forward(small));
        double[] base = new double[runs];
        double[] lr = new double[runs];
        for (int r = 0; r < runs; r++) {
            base[r] = timeOnce(() -> plain.forward(in));
            lr[r] = timeOnce(() -> withLora.forward(in));
            log.printf("transformer %s run %d/%d: plain %.2f s, runtime LoRA %.2f s (+%.1f%%)%n", size, r + 1, runs, base[r], lr[r],
                    100 * (lr[r] / base[r] - 1));
        }
        double mb = median(base);
        double ml = median(lr);
        double[] ratio = new double[runs];
        for (int r = 0; r < runs; r++) {
            ratio[r] = lr[r] / base[r];
        }
        log.printf("runtime LoRA / plain, median of %d back-to-back pairs: %.3f%n", runs, median(ratio));
        result.add(new BenchResult.Row("transformer (= merged LoRA)", size, mb, flops, runs, "plain forward, alternating with the next row"));
        result.add(new BenchResult.Row("transformer+runtime LoRA", size, ml, flops, runs,
                String.format("rank %d on every linear: %+.1f%% per step (median pair ratio %.3f)", rank, 100 * (ml / mb - 1), median(ratio))));
        long bytes = 0;
        for (String w : runtime.touchedWeights()) {
            bytes += weights.find(w).data().byteSize();
        }
        long tm = System.nanoTime();
        for (String w : runtime.touchedWeights()) {
            if (w.startsWith("layers.0.")) {
                StoredTensor m = AdapterMerge.merged(weights.find(w), runtime.adapters(w));
                if (m.numel() == 0) {
                    throw new IllegalStateException("empty merge of " + w);
                }
            }
        }
        double mergeBlock = (System.nanoTime() - tm) / 1e9;
        result.add(new BenchResult.Row("lora-merge-block", "rank " + rank, mergeBlock, 0, 1,
                String.format("one of %d blocks; merged copies of all touched weights: %.2f GB", cfg.nLayers(), bytes / 1e9)));
    }

    private static double median(double[] t) {
        double[] s = t.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double timeOnce(Supplier<?> work) {
        long t = System.nanoTime();
        work.get();
        return (System.nanoTime() - t) / 1e9;
    }
}
