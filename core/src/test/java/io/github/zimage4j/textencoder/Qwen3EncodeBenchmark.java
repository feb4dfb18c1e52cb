package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Times the text encoder at full Qwen3-4B size on this machine, with random weights.
 *
 * <p>Writes a random bf16 checkpoint with the real tensor names and shapes (about 8 GB, streamed to
 * disk, laid out as ComfyUI's single {@code qwen_3_4b.safetensors}), then measures the time to open it
 * and to encode one prompt of {@code --tokens} tokens, several times; prints every run and the median,
 * and deletes the checkpoint unless {@code --keep}. The first encode also pays for paging the weights in.
 *
 * <pre>
 * ./mvnw -q -pl core test-compile
 * java --add-modules jdk.incubator.vector -Xmx4g \
 *      -cp core/target/classes:core/target/test-classes \
 *      io.github.zimage4j.textencoder.Qwen3EncodeBenchmark [--dir /tmp] [--tokens 512] [--runs 3] [--keep]
 * </pre>
 * An existing {@code qwen_3_4b-random.safetensors} in {@code --dir} is reused.
 */
public final class Qwen3EncodeBenchmark {

    private Qwen3EncodeBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        int tokens = 512;
        int runs = 3;
        boolean keep = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--keep" -> keep = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (use --dir DIR, --tokens N, --runs N, --keep)");
            }
        }
        Qwen3Config cfg = Qwen3Config.QWEN3_4B;
        Path file = dir.resolve("qwen_3_4b-random.safetensors");
        boolean reused = Files.isRegularFile(file);
        try {
            if (!reused) {
                long t0 = System.nanoTime();
                writeRandomCheckpoint(file, cfg);
                System.out.printf("wrote %s: %.2f GB in %.1f s%n", file, Files.size(file) / 1e9, seconds(t0));
            }
            System.out.println("threads: " + Parallel.get().threads() + ", backend: " + JavaBackend.INSTANCE.name());

            long t0 = System.nanoTime();
            Qwen3TextEncoder enc = Qwen3TextEncoder.open(file, cfg, JavaBackend.INSTANCE);
            System.out.printf("open (map + header check + bind %d layers): %.3f s%n", cfg.numHiddenLayers() - 1, seconds(t0));
            try (enc) {
                int[] ids = new SplittableRandom(1).ints(tokens, 0, cfg.vocabSize()).toArray();
                double[] times = new double[runs];
                for (int r = 0; r < runs; r++) {
                    long start = System.nanoTime();
                    Tensor out = enc.encode(ids);
                    times[r] = seconds(start);
                    System.out.printf("encode %d tokens, run %d: %.2f s  (%.1f GFLOP/s; features %s, finite: %b)%n",
                            tokens, r + 1, times[r], flops(cfg, tokens) / times[r] / 1e9, Arrays.toString(out.shape()),
                            allFinite(out.data()));
                }
                double[] sorted = times.clone();
                Arrays.sort(sorted);
                System.out.printf("median encode of %d tokens over %d runs: %.2f s%n", tokens, runs, sorted[runs / 2]);
            }
        } finally {
            if (!keep && !reused) {
                Files.deleteIfExists(file);
            }
        }
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /** Multiply-adds ×2 of the projections and attention over the layers computed (causal: half the scores). */
    static double flops(Qwen3Config c, int n) {
        double perToken = (double) c.hiddenSize() * (2.0 * c.qDim() + 2.0 * c.kvDim()) + 3.0 * c.hiddenSize() * c.intermediateSize();
        double attention = (double) n * (n + 1) / 2 * c.numAttentionHeads() * c.headDim() * 2;
        return 2 * (c.numHiddenLayers() - 1) * (perToken * n + attention);
    }

    private static boolean allFinite(float[] v) {
        for (float f : v) {
            if (!Float.isFinite(f)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Every tensor of {@code cfg.expectedTensors()} in BF16, filled like the golden weights but with uniform
     * noise of the same variance (cheaper than Gaussian, the same for timing): norm scales 1 ± 0.1σ,
     * embeddings σ = 1, matrices σ = 1/√fan_in.
     */
    static void writeRandomCheckpoint(Path file, Qwen3Config cfg) throws IOException {
        List<StreamingSafeTensorsWriter.Spec> specs = new ArrayList<>();
        for (Map.Entry<String, long[]> e : cfg.expectedTensors().entrySet()) {
            specs.add(new StreamingSafeTensorsWriter.Spec(e.getKey(), DType.BF16, e.getValue()));
        }
        StreamingSafeTensorsWriter.write(file, specs, t -> {
            long[] shape = t.shape();
            boolean norm = shape.length == 1;
            double sigma = norm ? 0.1 : t.name().contains("embed_tokens") ? 1.0 : 1.0 / Math.sqrt(shape[1]);
            float mean = norm ? 1f : 0f;
            float halfWidth = (float) (Math.sqrt(3) * sigma);
            long[] state = {t.name().hashCode() * 0x9E3779B97F4A7C15L | 1};
            return out -> {
                long s = state[0];
                while (out.hasRemaining()) {
                    s ^= s << 13;
                    s ^= s >>> 7;
                    s ^= s << 17;
                    float u = (s >>> 40) * 0x1.0p-24f * 2f - 1f;
                    out.putShort((short) (Float.floatToRawIntBits(mean + halfWidth * u) >>> 16));
                }
                state[0] = s;
            };
        });
    }
}
