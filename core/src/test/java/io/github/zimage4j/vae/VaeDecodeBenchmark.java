package io.github.zimage4j.vae;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Times the Flux VAE decode on full-size random weights (the real names and shapes, BF16 as the
 * published {@code vae/} is, ~168 MB) — a test-scope tool, not a test.
 * <pre>
 *   ./mvnw -B -q -pl core test-compile
 *   java --add-modules jdk.incubator.vector -Xmx6g -cp core/target/classes:core/target/test-classes \
 *       io.github.zimage4j.vae.VaeDecodeBenchmark [--dir /tmp/zimage-vae-bench] [--sizes 512,1024] [--runs 3] \
 *       [--tiled 2048] [--keep]
 * </pre>
 * The checkpoint is written as a diffusers {@code vae/} folder (config.json from {@link VaeConfig#flux()},
 * weights drawn like the golden files: N(0,1)/√fan_in for convs and projections, 1 + 0.1·N(0,1) for norm
 * scales, 0.1·N(0,1) for biases) and reused when present. Each size decodes pipeline-space N(0,1) latents
 * [16, size/8, size/8]; one 256² decode warms the JIT first. Prints every run (wall clock and the process's
 * CPU time, which other tenants of a shared machine inflate less) and the medians. With
 * {@code --tiled S} it also decodes S² once with {@link Tiling#DEFAULT} and prints the process's peak
 * resident memory (VmHWM), which includes the mapped weights.
 */
public final class VaeDecodeBenchmark {

    private VaeDecodeBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of("/tmp/zimage-vae-bench");
        int[] sizes = {512, 1024};
        int runs = 3;
        int tiled = 0;
        boolean keep = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--sizes" -> sizes = Arrays.stream(args[++i].split(",")).filter(s -> !s.isBlank()).mapToInt(Integer::parseInt).toArray();
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--tiled" -> tiled = Integer.parseInt(args[++i]);
                case "--keep" -> keep = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (known: --dir, --sizes, --runs, --tiled, --keep)");
            }
        }
        VaeConfig cfg = VaeConfig.flux();
        Path weights = dir.resolve("diffusion_pytorch_model.safetensors");
        if (!Files.isRegularFile(weights)) {
            long t0 = System.nanoTime();
            writeRandomCheckpoint(dir, cfg);
            System.out.printf("wrote %s (%d MB) in %.1f s%n", weights, Files.size(weights) >> 20, seconds(t0));
        }
        System.out.printf("threads: %d, max heap: %d MB%n", Parallel.get().threads(), Runtime.getRuntime().maxMemory() >> 20);
        try (AutoencoderKL vae = AutoencoderKL.load(dir, JavaBackend.INSTANCE)) {
            long t0 = System.nanoTime();
            vae.decode(latents(cfg, 256, 0));
            System.out.printf("warm-up 256²: %.2f s%n", seconds(t0));
            for (int size : sizes) {
                Tensor lat = latents(cfg, size, size);
                List<Double> times = new ArrayList<>();
                List<Double> cpu = new ArrayList<>();
                for (int r = 0; r < runs; r++) {
                    long t = System.nanoTime();
                    long c = cpuNanos();
                    vae.decode(lat);
                    times.add(seconds(t));
                    cpu.add((cpuNanos() - c) / 1e9);
                    System.out.printf("decode %d² (latent %d²) run %d: %.2f s wall, %.2f s CPU%n", size, size / 8, r + 1,
                            times.getLast(), cpu.getLast());
                }
                System.out.printf("decode %d²: median %.2f s wall, %.2f s CPU over %d runs%n", size, median(times),
                        median(cpu), runs);
            }
            if (tiled > 0) {
                long t = System.nanoTime();
                long c = cpuNanos();
                Tensor img = vae.decodeTiled(latents(cfg, tiled, tiled), Tiling.DEFAULT);
                System.out.printf("tiled decode %d² (%s): %.2f s wall, %.2f s CPU, output %s%n", tiled, Tiling.DEFAULT,
                        seconds(t), (cpuNanos() - c) / 1e9, Arrays.toString(img.shape()));
            }
        }
        System.out.println("peak resident memory (VmHWM): " + peakResident());
        if (!keep) {
            Files.deleteIfExists(weights);
            Files.deleteIfExists(dir.resolve("config.json"));
        }
    }

    static void writeRandomCheckpoint(Path dir, VaeConfig cfg) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom rnd = new SplittableRandom(2024);
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (Map.Entry<String, long[]> e : cfg.expectedTensors().entrySet()) {
            long[] shape = e.getValue();
            int n = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
            boolean bias = e.getKey().endsWith(".bias");
            boolean normScale = shape.length == 1 && !bias;
            double std = shape.length == 1 ? 0.1 : 1 / Math.sqrt((double) n / shape[0]);
            short[] bits = new short[n];
            for (int i = 0; i < n; i++) {
                bits[i] = FloatFormats.floatToBf16((float) ((normScale ? 1 : 0) + std * rnd.nextGaussian()));
            }
            w.addBf16(e.getKey(), shape, bits);
        }
        w.write(dir.resolve("diffusion_pytorch_model.safetensors"));
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("_class_name", "AutoencoderKL");
        config.put("act_fn", "silu");
        config.put("block_out_channels", Arrays.stream(cfg.blockOutChannels()).boxed().toList());
        config.put("in_channels", cfg.inChannels());
        config.put("latent_channels", cfg.latentChannels());
        config.put("layers_per_block", cfg.layersPerBlock());
        config.put("mid_block_add_attention", cfg.midBlockAddAttention());
        config.put("norm_num_groups", cfg.normNumGroups());
        config.put("out_channels", cfg.outChannels());
        config.put("scaling_factor", (double) cfg.scalingFactor());
        config.put("shift_factor", (double) cfg.shiftFactor());
        config.put("use_post_quant_conv", false);
        config.put("use_quant_conv", false);
        Files.writeString(dir.resolve("config.json"), Json.write(config));
    }

    static Tensor latents(VaeConfig cfg, int size, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int s = size / cfg.downscale();
        float[] v = new float[cfg.latentChannels() * s * s];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return new Tensor(v, cfg.latentChannels(), s, s);
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    private static double median(List<Double> xs) {
        List<Double> s = xs.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static String peakResident() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.isRegularFile(status)) {
            return "unknown (no /proc/self/status)";
        }
        return Files.readAllLines(status).stream().filter(l -> l.startsWith("VmHWM:"))
                .map(l -> l.substring(6).trim()).findFirst().orElse("unknown");
    }
}
