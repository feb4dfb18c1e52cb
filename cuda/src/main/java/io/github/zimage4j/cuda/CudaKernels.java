package io.github.zimage4j.cuda;

import io.github.zimage4j.kernels.Conv2d;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The kernels of {@link KernelSources}, compiled by NVRTC for one device's architecture and loaded into
 * its context, with a typed launcher per kernel. Every launcher queues work on the device's stream and
 * returns; pointers are device addresses, 0 standing for a C null (an absent row scale, gate or mask).
 * Semantics are those of the Java kernels named on each method.
 */
public final class CudaKernels implements AutoCloseable {

    /** float32 elements per thread block of the element-wise kernels. */
    private static final int BLOCK = 256;
    /** Float element budget of one GroupNorm chunk, as GroupNorm.RUN_FLOATS: the same sums in the same order. */
    static final int GROUP_NORM_RUN_FLOATS = 1 << 14;
    /** Dynamic shared memory a kernel may use without opting in. */
    private static final int DEFAULT_SHARED = 48 * 1024;

    private final CudaDevice device;
    private final String arch;
    private final List<MemorySegment> modules;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private final Set<String> sharedOptIn = new HashSet<>();

    private CudaKernels(CudaDevice device, String arch, List<MemorySegment> modules) {
        this.device = device;
        this.arch = arch;
        this.modules = modules;
    }

    /** Compiles every program for {@code device} (a few seconds) and loads it. */
    public static CudaKernels load(CudaDevice device, Nvrtc nvrtc) {
        device.bind();
        String arch = nvrtc.archFor(device.computeCapability());
        List<MemorySegment> modules = new java.util.ArrayList<>();
        CudaKernels k = new CudaKernels(device, arch, modules);
        for (String program : KernelSources.PROGRAMS) {
            Nvrtc.Compiled c = KernelSources.compile(nvrtc, program, arch);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment image = a.allocate(c.image().length + 1L);
                image.copyFrom(MemorySegment.ofArray(c.image()));
                image.set(ValueLayout.JAVA_BYTE, c.image().length, (byte) 0); // PTX must end in NUL
                modules.add(device.driver().loadModule(image, program + " (" + arch + ")"));
            }
        }
        return k;
    }

    /** The architecture the kernels were compiled for ({@code sm_90}, or {@code compute_XY} PTX). */
    public String arch() {
        return arch;
    }

    private MemorySegment function(String name) {
        MemorySegment f = functions.get(name);
        if (f == null) {
            CudaException last = null;
            for (MemorySegment m : modules) {
                try {
                    f = device.driver().function(m, name);
                    break;
                } catch (CudaCallException e) {
                    last = e;
                }
            }
            if (f == null) {
                throw new CudaException("no kernel named " + name + " in " + KernelSources.PROGRAMS, last);
            }
            functions.put(name, f);
        }
        return f;
    }

    /**
     * Queues {@code kernel} with arguments given as Java values: Long for pointers and {@code long long},
     * Integer for {@code int}, Float for {@code float}, Double for {@code double}. They must match the
     * kernel's C signature in order and type; the launchers below are the only callers.
     */
    private void launch(String kernel, int gridX, int gridY, int block, int shared, Object... args) {
        device.bind();
        MemorySegment f = function(kernel);
        if (shared > DEFAULT_SHARED && sharedOptIn.add(kernel)) {
            if (shared > device.maxSharedMemoryOptIn()) {
                throw new CudaException(kernel + " needs " + shared + " bytes of shared memory; " + device.name()
                        + " allows " + device.maxSharedMemoryOptIn());
            }
            device.driver().setFunctionAttribute(f, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    device.maxSharedMemoryOptIn(), "allowing " + kernel + " " + shared + " bytes of shared memory");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = a.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                MemorySegment v = switch (args[i]) {
                    case Long l -> a.allocateFrom(ValueLayout.JAVA_LONG, l);
                    case Integer n -> a.allocateFrom(ValueLayout.JAVA_INT, n);
                    case Float x -> a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                    case Double d -> a.allocateFrom(ValueLayout.JAVA_DOUBLE, d);
                    default -> throw new IllegalArgumentException(kernel + ": argument " + i + " of type "
                            + args[i].getClass().getSimpleName());
                };
                params.setAtIndex(ValueLayout.ADDRESS, i, v);
            }
            device.driver().launch(f, gridX, gridY, 1, block, 1, 1, shared, device.stream(), params, kernel);
        }
    }

    /** Blocks for a grid-stride loop over n elements: enough to fill the device, no more. */
    private int gridFor(long n) {
        long blocks = (n + BLOCK - 1) / BLOCK;
        return (int) Math.max(1, Math.min(blocks, (long) device.multiprocessors() * 32));
    }

    // ---------------------------------------------------------------- element-wise

    /** {@code x = silu(x)}: Activations.silu, bit for bit. */
    public void silu(long x, long n) {
        launch("silu_f32", gridFor(n), 1, BLOCK, 0, x, n);
    }

    /** {@code a = silu(a)·b}: Activations.swiglu, bit for bit. */
    public void swiglu(long a, long b, long n) {
        launch("swiglu_f32", gridFor(n), 1, BLOCK, 0, a, b, n);
    }

    /** {@code x += y}. */
    public void add(long x, long y, long n) {
        launch("add_f32", gridFor(n), 1, BLOCK, 0, x, y, n);
    }

    /** float32 → bfloat16, round to nearest even (FloatFormats.floatToBf16). */
    public void f32ToBf16(long x, long y, long n) {
        launch("f32_to_bf16", gridFor(n), 1, BLOCK, 0, x, y, n);
    }

    public void bf16ToF32(long x, long y, long n) {
        launch("bf16_to_f32", gridFor(n), 1, BLOCK, 0, x, y, n);
    }

    /** Schedule.step: {@code out = sample + dt·model}, dt = σ[i+1] − σ[i] computed by the caller in float32. */
    public void eulerStep(long out, long sample, long model, float dt, long n) {
        launch("euler_step_f32", gridFor(n), 1, BLOCK, 0, out, sample, model, dt, n);
    }

    /** Schedule.scaleNoise: {@code out = σ·noise + (1 − σ)·sample}. */
    public void scaleNoise(long out, long sample, long noise, float sigma, long n) {
        launch("scale_noise_f32", gridFor(n), 1, BLOCK, 0, out, sample, noise, sigma, 1f - sigma, n);
    }

    /** TimestepEmbedder's sinusoid: {@code out[batch, dim]} from {@code t[batch]} (cos half, then sin). */
    public void timestepEmbedding(long t, long out, int batch, int dim, float tScale) {
        float negLog = (float) -StrictMath.log(10000.0);
        launch("timestep_embedding_f32", gridFor((long) batch * dim / 2), 1, BLOCK, 0, t, out, batch, dim, tScale, negLog);
    }

    // ---------------------------------------------------------------- row norms

    private static int rowBlock(int dim) {
        return dim >= 2048 ? 512 : dim >= 512 ? 256 : 128;
    }

    /** Norms.rmsNorm: {@code out = x/rms(x)·weight·rowScale} (rowScale 0 = none). */
    public void rmsNorm(long x, int rows, int dim, long weight, float eps, long rowScale, long out) {
        launch("rms_norm_f32", rows, 1, rowBlock(dim), 0, x, rows, dim, weight, eps, rowScale, out);
    }

    /** Norms.addRmsNormed: {@code x += gate·rmsnorm(y)·weight} (gate 0 = none). */
    public void addRmsNormed(long x, long y, int rows, int dim, long weight, float eps, long gate) {
        launch("add_rms_normed_f32", rows, 1, rowBlock(dim), 0, x, y, rows, dim, weight, eps, gate);
    }

    /** Norms.layerNorm without affine parameters, times rowScale (0 = none). */
    public void layerNorm(long x, int rows, int dim, float eps, long rowScale, long out) {
        launch("layer_norm_f32", rows, 1, rowBlock(dim), 0, x, rows, dim, eps, rowScale, out);
    }

    // ---------------------------------------------------------------- RoPE

    /** Rope.interleaved in place. */
    public void ropeInterleaved(long x, int rows, int stride, int heads, int headDim, long cos, long sin, int tableRow0) {
        launch("rope_interleaved_f32", gridFor((long) rows * heads * headDim / 2), 1, BLOCK, 0, x, rows, stride, heads,
                headDim, cos, sin, tableRow0);
    }

    /** Rope.rotateHalf in place. */
    public void ropeRotateHalf(long x, int rows, int stride, int heads, int headDim, long cos, long sin, int tableRow0) {
        launch("rope_rotate_half_f32", gridFor((long) rows * heads * headDim / 2), 1, BLOCK, 0, x, rows, stride, heads,
                headDim, cos, sin, tableRow0);
    }

    // ---------------------------------------------------------------- GroupNorm

    /**
     * GroupNorm.groupNorm on channels-last {@code [pixels, channels]}, optionally then SiLU; in place allowed.
     * Uses scratch memory of a few KiB, freed before returning (after the stream finishes).
     */
    public void groupNorm(long x, int pixels, int channels, int groups, long weight, long bias, float eps, boolean silu,
                          long out) {
        if (groups < 1 || channels % groups != 0) {
            throw new IllegalArgumentException(channels + " channels cannot form " + groups + " groups");
        }
        int chunkPixels = Math.max(1, GROUP_NORM_RUN_FLOATS / channels);
        int chunks = (pixels + chunkPixels - 1) / chunkPixels;
        double count = (double) pixels * (channels / groups);
        int threads = Math.min(256, (channels + 31) / 32 * 32);
        int groupBlocks = (groups + 127) / 128;
        try (DeviceBuffer partial = device.allocate(8L * chunks * groups, "GroupNorm partial sums");
             DeviceBuffer mean = device.allocate(8L * groups, "GroupNorm means");
             DeviceBuffer perChannel = device.allocate(4L * channels * 3, "GroupNorm per-channel mean, scale and shift")) {
            long meanPerChannel = perChannel.address();
            long scale = perChannel.at(4L * channels);
            long shift = perChannel.at(8L * channels);
            launch("gn_sums", chunks, 1, threads, 4 * channels, x, pixels, channels, groups, chunkPixels, 0L, partial.address());
            launch("gn_mean", groupBlocks, 1, 128, 0, partial.address(), chunks, groups, channels, count, mean.address(),
                    meanPerChannel);
            launch("gn_sums", chunks, 1, threads, 4 * channels, x, pixels, channels, groups, chunkPixels, meanPerChannel,
                    partial.address());
            launch("gn_scale_shift", groupBlocks, 1, 128, 0, partial.address(), chunks, groups, channels, count, eps,
                    mean.address(), weight, bias, scale, shift);
            launch("gn_apply", gridFor((long) pixels * channels), 1, BLOCK, 0, x, (long) pixels, channels, scale, shift,
                    silu ? 1 : 0, out);
        }
    }

    // ---------------------------------------------------------------- convolution gather

    /**
     * The im2col gather of a convolution: {@code col[i, c·taps + t]} for output pixels m0 .. m0+count, float32
     * or bfloat16, reading the input through the geometry (upsampling, padding, stride). Multiplying it by
     * the weight viewed as {@code [Cout, Cin·kh·kw]} (a {@link CudaLinear}) is the convolution.
     */
    public void im2col(boolean bf16, long x, int height, int width, int cin, int kh, int kw, Conv2d.Geometry g, long m0,
                       int count, long col) {
        int ow = g.outWidth(width, kw);
        launch(bf16 ? "im2col_bf16" : "im2col_f32", gridFor((long) count * cin), 1, BLOCK, 0, x, height, width, cin, kh, kw,
                g.upsample(), g.stride(), g.padTop(), g.padLeft(), ow, m0, count, col);
    }

    // ---------------------------------------------------------------- attention

    /**
     * FlashAttention on bfloat16 Q, K, V rows (strides in elements; head h at column h·headDim, grouped-query
     * heads share K/V head h / (heads/kvHeads)) into float32 {@code out}. {@code keyMask}: device bytes, one
     * per key from this call's first key (0 hides it), or 0 for none. Tensor cores for head sizes 64 and 128
     * on sm_80+ with 16-byte aligned rows; a CUDA-core kernel otherwise (head sizes up to 512).
     */
    public void attention(long q, int qStride, long k, int kStride, long v, int vStride, long out, int oStride, int queries,
                          int keys, int heads, int kvHeads, int headDim, float scale, boolean causal, long keyMask) {
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads cannot share " + kvHeads + " key/value heads");
        }
        if (queries == 0) {
            return;
        }
        float scaleLog2 = (float) (scale * (1.0 / Math.log(2.0)));
        int causalShift = keys - queries;
        boolean aligned = qStride % 8 == 0 && kStride % 8 == 0 && vStride % 8 == 0 && q % 16 == 0 && k % 16 == 0 && v % 16 == 0;
        if (device.computeCapability() >= 80 && (headDim == 64 || headDim == 128) && aligned) {
            launch("flash_attn_mma_d" + headDim, (queries + 63) / 64, heads, 128, 0, q, qStride, k, kStride, v, vStride, out,
                    oStride, queries, keys, heads, kvHeads, scaleLog2, causal ? 1 : 0, causalShift, keyMask);
            return;
        }
        int maxD = headDim <= 64 ? 64 : headDim <= 128 ? 128 : headDim <= 256 ? 256 : headDim <= 512 ? 512 : -1;
        if (maxD < 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("attention heads of " + headDim + " values are not supported (even sizes up to 512)");
        }
        int shared = 16 * headDim * 4 + 2 * 32 * (headDim + 2) * 2;
        launch("flash_attn_simt_d" + maxD, (queries + 15) / 16, heads, 256, shared, q, qStride, k, kStride, v, vStride, out,
                oStride, queries, keys, heads, kvHeads, headDim, scaleLog2, causal ? 1 : 0, causalShift, keyMask);
    }

    @Override
    public void close() {
        device.bind();
        for (MemorySegment m : modules) {
            device.driver().unloadModule(m);
        }
        modules.clear();
        functions.clear();
    }
}
