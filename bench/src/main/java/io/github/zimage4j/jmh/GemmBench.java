package io.github.zimage4j.jmh;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.tensor.Linear;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * {@link Backend#linear}, {@code out[m, n] = x[m, k] · Wᵀ}, on the diffusion transformer's layer shapes
 * (model width 3840, feed-forward width 10240) with the weight in native memory as BF16 or F32, or
 * GGUF-quantized as Q8_0 or Q4_K (decoded inside the product; on oneDNN, Q8_0 converted to int8 rows first
 * unless {@code -p prepared=false}).
 *
 * <p>One operation is one product: {@code 2·m·k·n} FLOP (a multiply-add counts 2), so
 * {@code GFLOP/s = 2·m·k·n / (ms per op · 10⁶)}. The row counts span the regimes the model runs: 14 (a
 * few tokens, nearly a matrix-vector product) and the unified image + caption sequence with a 64-token
 * caption at 256² (320), 512² (1088) and 1024² (4160).
 * {@link #headline} is the square-ish 4096 × 3840 × 3840 product (about 120.8 GFLOP per op).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2)
@Measurement(iterations = 5)
public class GemmBench {

    /** A layer of the given shape and its input and output buffers. */
    public abstract static class Product {

        Backend be;
        Linear layer;
        Activation x;
        Activation out;
        int rows;
        private Arena arena;

        void prepare(String backendName, DType dtype, int m, int k, int n, boolean prepareWeights) {
            be = Backends.select(backendName);
            arena = Arena.ofShared();
            layer = new Linear(RandomData.weight(arena, "w", dtype, (float) (1 / Math.sqrt(k)), 1, n, k), null);
            if (prepareWeights) {
                be.prepareWeights(java.util.List.of(layer));
            }
            x = be.upload(RandomData.activations(m * k, 2));
            out = be.allocate(m * n);
            rows = m;
        }

        @TearDown(Level.Trial)
        public void release() {
            arena.close();
        }
    }

    @State(Scope.Benchmark)
    public static class LayerShapes extends Product {

        @Param({"14", "320", "1088", "4160"})
        public int m;

        /** qkv: one attention projection 3840→3840; ffn_up: 3840→10240; ffn_down: 10240→3840. */
        @Param({"qkv", "ffn_up", "ffn_down"})
        public String shape;

        @Param({"BF16", "F32", "Q8_0", "Q4_K"})
        public DType dtype;

        @Param({"java", "onednn"})
        public String backend;

        /**
         * Whether the backend converts the weight first, as a model does at load ({@code Backend#prepareWeights}:
         * oneDNN multiplies Q8_0 on the int8 units then); false measures the stored form's own path.
         */
        @Param({"true"})
        public boolean prepared;

        @Setup(Level.Trial)
        public void setUp() {
            int[] kn = switch (shape) {
                case "qkv" -> new int[]{3840, 3840};
                case "ffn_up" -> new int[]{3840, 10240};
                case "ffn_down" -> new int[]{10240, 3840};
                default -> throw new IllegalArgumentException("unknown shape '" + shape + "'; use qkv, ffn_up or ffn_down");
            };
            prepare(backend, dtype, m, kn[0], kn[1], prepared);
        }
    }

    @State(Scope.Benchmark)
    public static class Headline extends Product {

        @Param({"BF16", "F32"})
        public DType dtype;

        @Param({"java", "onednn"})
        public String backend;

        @Setup(Level.Trial)
        public void setUp() {
            prepare(backend, dtype, 4096, 3840, 3840, true);
        }
    }

    @Benchmark
    public Activation linear(LayerShapes p) {
        p.be.linear(p.x, 0, p.rows, p.layer, p.out, 0);
        return p.out;
    }

    /** m = 4096, k = n = 3840: 2·4096·3840·3840 ≈ 120.8 GFLOP per op. */
    @Benchmark
    public Activation headline(Headline p) {
        p.be.linear(p.x, 0, p.rows, p.layer, p.out, 0);
        return p.out;
    }
}
