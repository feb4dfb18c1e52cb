package io.github.zimage4j.jmh;

import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.Rows;
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
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * {@link Backend#attention} on the two attention workloads of Z-Image, head dim 128 throughout:
 * <ul>
 *   <li>{@link #dit}: the diffusion transformer's self-attention, 30 heads, no mask, over the unified
 *       image + caption sequence: L = 1088 (512² images) or 4160 (1024²).
 *       One op is {@code 4·L²·30·128} FLOP (Q·Kᵀ and P·V, a multiply-add counts 2).</li>
 *   <li>{@link #textEncoder}: the Qwen3 text encoder's causal grouped-query attention, 32 query heads
 *       sharing 8 key/value heads, L = 512 (the longest prompt). Only the visible half is computed:
 *       {@code 2·L·(L+1)·32·128} FLOP per op.</li>
 * </ul>
 * {@code GFLOP/s = FLOP / (ms per op · 10⁶)}. Q, K, V and the output are separate row-major buffers,
 * as the models hand them over.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2)
@Measurement(iterations = 5)
public class AttentionBench {

    static final int HEAD_DIM = 128;

    /** Q, K, V and output buffers for one attention call. */
    public abstract static class Inputs {

        Backend be;
        Rows q;
        Rows k;
        Rows v;
        Rows out;
        int seqLen;
        int heads;
        int kvHeads;

        void prepare(String backendName, int seqLen, int heads, int kvHeads) {
            be = Backends.select(backendName);
            int qDim = heads * HEAD_DIM;
            int kvDim = kvHeads * HEAD_DIM;
            q = new Rows(be.upload(RandomData.activations(seqLen * qDim, 1)), 0, qDim);
            k = new Rows(be.upload(RandomData.activations(seqLen * kvDim, 2)), 0, kvDim);
            v = new Rows(be.upload(RandomData.activations(seqLen * kvDim, 3)), 0, kvDim);
            out = new Rows(be.allocate(seqLen * qDim), 0, qDim);
            this.seqLen = seqLen;
            this.heads = heads;
            this.kvHeads = kvHeads;
        }

        Activation run(boolean causal, String precision) {
            be.attention(q, k, v, out, AttentionSpec.self(seqLen, heads, HEAD_DIM).withKvHeads(kvHeads).withCausal(causal)
                    .withBf16(precision.equals("bf16")));
            return out.data();
        }
    }

    @State(Scope.Benchmark)
    public static class DitSelfAttention extends Inputs {

        /** The unified sequence length: 1088 at 512², 4160 at 1024². */
        @Param({"1088", "4160"})
        public int seqLen;

        @Param({"java", "onednn"})
        public String backend;

        /** bf16 products where the backend has them (the DiT's bf16 weights allow it), else float32. */
        @Param({"bf16", "f32"})
        public String precision;

        @Setup(Level.Trial)
        public void setUp() {
            prepare(backend, seqLen, 30, 30);
        }
    }

    @State(Scope.Benchmark)
    public static class TextEncoderAttention extends Inputs {

        @Param({"java", "onednn"})
        public String backend;

        @Param({"bf16", "f32"})
        public String precision;

        @Setup(Level.Trial)
        public void setUp() {
            prepare(backend, 512, 32, 8);
        }
    }

    @Benchmark
    public Activation dit(DitSelfAttention p) {
        return p.run(false, p.precision);
    }

    @Benchmark
    public Activation textEncoder(TextEncoderAttention p) {
        return p.run(true, p.precision);
    }
}
