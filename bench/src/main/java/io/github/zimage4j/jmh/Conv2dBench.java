package io.github.zimage4j.jmh;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.tensor.StoredTensor;
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
 * {@link Backend#conv2d} at the VAE decoder's most expensive shape: a 3×3, 512 → 512 channel convolution
 * (stride 1, padding 1, bias) of a channels-last feature map, at 128 × 128 (the latent resolution of a
 * 1024² image) and 256 × 256 (after the first upsampling), as the decoder's ResNet blocks run it.
 *
 * <p>One op is {@code 2·H·W·512·512·9} FLOP (a multiply-add counts 2): about 77.3 GFLOP at 128² and
 * 309.2 GFLOP at 256²; {@code GFLOP/s = FLOP / (ms per op · 10⁶)}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@State(Scope.Benchmark)
public class Conv2dBench {

    static final int CHANNELS = 512;
    static final int KERNEL = 3;

    /** Height and width of the input (and output) feature map. */
    @Param({"128", "256"})
    public int size;

    @Param({"BF16", "F32"})
    public DType dtype;

    @Param({"java", "onednn"})
    public String backend;

    private Backend be;
    private Arena arena;
    private StoredTensor weight;
    private float[] bias;
    private Activation x;
    private Activation out;
    private final Conv2d.Geometry geometry = Conv2d.Geometry.same(KERNEL);

    @Setup(Level.Trial)
    public void setUp() {
        be = Backends.select(backend);
        arena = Arena.ofShared();
        float bound = (float) (1 / Math.sqrt(CHANNELS * KERNEL * KERNEL));
        weight = RandomData.weight(arena, "conv.weight", dtype, bound, 1, CHANNELS, CHANNELS, KERNEL, KERNEL);
        bias = RandomData.activations(CHANNELS, 2);
        x = be.upload(RandomData.activations(size * size * CHANNELS, 3));
        out = be.allocate(size * size * CHANNELS);
    }

    @TearDown(Level.Trial)
    public void release() {
        arena.close();
    }

    @Benchmark
    public Activation conv2d() {
        be.conv2d(x, 0, size, size, weight, bias, geometry, out, 0, false);
        return out;
    }
}
