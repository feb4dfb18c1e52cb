package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.AdapterProducts;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.kernels.FlashAttention;
import io.github.zimage4j.kernels.GroupNorm;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.kernels.WeightRows;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Linear layers and attention on oneDNN. A BF16 weight is used in place, straight from the memory-mapped
 * file (oneDNN reads the stored [out, in] rows as its transposed [in, out] layout), or from its copy in
 * oneDNN's blocked layout once reused, where memory allows ({@link PackedWeights}): activations are rounded
 * to bf16 and products accumulate in float32, on AMX tiles or AVX512-BF16 dot products, whichever the CPU
 * has. F32 weights run oneDNN's float32 matmul. Attention runs as blocked matmuls ({@link OneDnnAttention})
 * in bf16 where the caller allows it, convolutions on oneDNN's convolution ({@link OneDnnConvolution}).
 * LoRA adapters are added after the base product by the Java kernels. A ggml block-quantized weight (GGUF) is decoded, a bounded block of
 * output rows at a time, into a bf16 scratch ({@link #DECODE_SCRATCH_BYTES}) that each bf16 matmul reads:
 * the model stays quantized in memory, unless the model had the backend convert its 8-bit weights
 * ({@link #prepareWeights}): those multiply on the int8 units ({@link Int8Matmul}). Other dtypes, heap-backed weights, tiny products and the
 * element-wise stages use the Java kernels.
 */
final class OneDnnBackend extends HostBackend {

    /** Below this many rows a matmul call costs more than the Java dot products. */
    static final int MIN_ROWS = 8;
    /** Most bytes of bf16 weight rows decoded from a quantized weight for one matmul call. */
    static final long DECODE_SCRATCH_BYTES = 8L << 20;
    private long decodeScratchBytes = DECODE_SCRATCH_BYTES;

    private final Dnnl dnnl;
    private final HostBackend fallback = JavaBackend.INSTANCE;
    private final Arena arena = Arena.ofShared();
    private final Map<Key, MatmulPrimitive> matmuls = new HashMap<>();
    private final Map<float[], MemorySegment> biases = new IdentityHashMap<>();
    private final NativeBuffer src = new NativeBuffer();
    private final NativeBuffer dst = new NativeBuffer();
    /** oneDNN scratch memory, shared by every primitive (calls are serialized). */
    private final NativeBuffer scratch = new NativeBuffer();
    /** Decoded bf16 rows of a quantized weight (at most DECODE_SCRATCH_BYTES). */
    private final NativeBuffer decoded = new NativeBuffer();
    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[1][0]);
    private final OneDnnAttention attention;
    private final PackedWeights packed;
    private final OneDnnConvolution convolution;
    /** 8-bit weights a model handed to {@link #prepareWeights}, converted for the int8 product. */
    private final Int8Weights int8Weights = new Int8Weights();
    private final Int8Matmul int8;
    private final boolean int8Units;

    OneDnnBackend(Dnnl dnnl) {
        this(dnnl, new PackedWeights(dnnl));
    }

    /** Tests: packing with a given mode, memory figures and notice sink. */
    OneDnnBackend(Dnnl dnnl, PackedWeights packed) {
        this.dnnl = dnnl;
        this.attention = new OneDnnAttention(dnnl);
        this.packed = packed;
        this.convolution = new OneDnnConvolution(dnnl, scratch);
        this.int8 = new Int8Matmul(dnnl, scratch);
        this.int8Units = Int8Matmul.hasInt8Units(dnnl);
    }

    @Override
    public String name() {
        return "onednn";
    }

    @Override
    public boolean float32Products(DType weightDtype) {
        return weightDtype != DType.BF16 && !weightDtype.isQuantized();
    }

    private record Key(int m, int k, int n, DType weight, boolean bias) {
    }

    private static boolean supported(StoredTensor w) {
        return (w.dtype() == DType.BF16 || w.dtype() == DType.F32) && w.data().isNative();
    }

    /**
     * Converts the layers' 8-bit weights to int8 rows ({@link Int8Weights}); their products of at least
     * {@link #MIN_ROWS} rows run on the int8 units from then on (fewer rows stay on the Java kernels, in
     * float32). The {@code sensitive} layers' 8-bit weights are not converted: they stay on the bf16 path
     * (decoded to bf16 rows for each product). Nothing where the CPU has no int8 units, or with
     * {@code -Dzimage.int8=off} (read at each model load): the weights then stay on the bf16 path.
     */
    @Override
    public synchronized WeightPreparation prepareWeights(List<Linear> layers, List<Linear> sensitive) {
        if (!int8Units || "off".equals(System.getProperty("zimage.int8"))) {
            return WeightPreparation.NONE;
        }
        return int8Weights.convert(layers, sensitive, name());
    }

    @Override
    public synchronized long releasePreparedWeights(List<Linear> layers) {
        long freed = 0;
        for (Linear layer : layers) {
            StoredTensor w = layer.weight();
            freed += int8Weights.release(w) + packed.release(w, layer.in(), layer.out());
        }
        return freed;
    }

    @Override
    public synchronized void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff) {
        StoredTensor w = layer.weight();
        Int8Weights.Rows converted = rows >= MIN_ROWS && Int8Weights.converts(w) ? int8Weights.find(w) : null;
        if (converted != null) {
            int8.linear(x, xOff, rows, layer, converted, out, outOff);
            return;
        }
        if (rows >= MIN_ROWS && w.dtype().isQuantized()) {
            quantizedLinear(x, xOff, rows, layer, out, outOff);
            return;
        }
        if (rows < MIN_ROWS || !supported(w)) {
            fallback.linear(x, xOff, rows, layer, out, outOff);
            return;
        }
        AdapterProducts.Pending adapters = AdapterProducts.prepare(x, xOff, rows, layer);
        int k = layer.in();
        int n = layer.out();
        Key key = new Key(rows, k, n, w.dtype(), layer.bias() != null);
        boolean bf16 = w.dtype() == DType.BF16;
        PackedWeights.Packed p = bf16 ? packed.get(w, k, n) : null;
        MatmulPrimitive mm = p != null ? packed.matmul(rows, k, n, key.bias(), p) : matmuls.get(key);
        if (mm == null) {
            mm = create(key);
            matmuls.put(key, mm);
        }
        MemorySegment s = src.ensure((long) rows * k * (bf16 ? 2 : 4));
        Bf16.copy(x, xOff, rows * k, s, bf16);
        MemorySegment d = dst.ensure((long) rows * n * 4);
        mm.execute(s, p != null ? p.data() : w.data(), layer.bias() != null ? bias(layer.bias()) : MemorySegment.NULL, d, scratch);
        MemorySegment.copy(d, Bf16.F32, 0, out, outOff, rows * n);
        AdapterProducts.addTo(adapters, out, outOff);
    }

    /**
     * A block-quantized weight: blocks of output rows are decoded (the Java decoders, so values are exactly
     * what the Java backend multiplies) and rounded to bf16 into the bounded scratch, each block one bf16
     * matmul whose result columns are copied into place with the bias.
     */
    private void quantizedLinear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff) {
        StoredTensor w = layer.weight();
        int k = layer.in();
        int n = layer.out();
        int nb = (int) Math.min(n, Math.max(16, decodeScratchBytes / (2L * k) / 16 * 16));
        MemorySegment s = src.ensure((long) rows * k * 2);
        Bf16.copy(x, xOff, rows * k, s, true);
        MemorySegment wbuf = decoded.ensure((long) nb * k * 2);
        float[] bias = layer.bias();
        for (int n0 = 0; n0 < n; n0 += nb) {
            int cols = Math.min(nb, n - n0);
            int first = n0;
            Parallel.get().forEach(cols, j -> {
                float[][] holder = ROW.get();
                if (holder[0].length < k) {
                    holder[0] = new float[k];
                }
                WeightRows.decode(w, (long) (first + j) * k, k, holder[0], 0);
                Bf16.storeRun(holder[0], 0, k, wbuf, (long) j * k);
            });
            Key key = new Key(rows, k, cols, DType.BF16, false);
            MatmulPrimitive mm = matmuls.get(key);
            if (mm == null) {
                mm = create(key);
                matmuls.put(key, mm);
            }
            MemorySegment d = dst.ensure((long) rows * cols * 4);
            mm.execute(s, wbuf, MemorySegment.NULL, d, scratch);
            for (int r = 0; r < rows; r++) {
                int o = outOff + r * n + n0;
                MemorySegment.copy(d, Bf16.F32, (long) r * cols * 4, out, o, cols);
                if (bias != null) {
                    for (int j = 0; j < cols; j++) {
                        out[o + j] += bias[n0 + j];
                    }
                }
            }
        }
    }

    private MemorySegment bias(float[] b) {
        return biases.computeIfAbsent(b, key -> {
            MemorySegment seg = arena.allocate((long) key.length * 4, 64);
            MemorySegment.copy(key, 0, seg, Bf16.F32, 0, key.length);
            return seg;
        });
    }

    private MatmulPrimitive create(Key key) {
        try {
            int wt = key.weight() == DType.BF16 ? Dnnl.BF16 : Dnnl.F32;
            MemorySegment srcMd = dnnl.md2(arena, key.m(), key.k(), wt, Dnnl.TAG_AB);
            // The stored [n, k] rows are the transposed layout "ba" of oneDNN's [k, n] weights.
            MemorySegment weiMd = dnnl.md2(arena, key.k(), key.n(), wt, Dnnl.TAG_BA);
            MemorySegment biasMd = key.bias() ? dnnl.md2(arena, 1, key.n(), Dnnl.F32, Dnnl.TAG_AB) : MemorySegment.NULL;
            MemorySegment dstMd = dnnl.md2(arena, key.m(), key.n(), Dnnl.F32, Dnnl.TAG_AB);
            return new MatmulPrimitive(dnnl, arena, srcMd, weiMd, biasMd, dstMd);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot create a oneDNN matmul for " + key, t);
        }
    }

    @Override
    public synchronized void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                                       FlashAttention.Operand out, AttentionSpec spec) {
        if (OneDnnAttention.suits(q, k, v, out, spec)) {
            attention.run(q, k, v, out, spec);
        } else {
            fallback.attention(q, k, v, out, spec);
        }
    }

    @Override
    public synchronized void conv2d(float[] x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                                    Conv2d.Geometry geometry, float[] out, int outOff, boolean accumulate) {
        if (OneDnnConvolution.suits(weight, geometry)) {
            convolution.run(x, xOff, height, width, weight, bias, geometry, out, outOff, accumulate);
        } else {
            fallback.conv2d(x, xOff, height, width, weight, bias, geometry, out, outOff, accumulate);
        }
    }

    /** The normalization applied in the convolution's input copy: the normalized map is never written. */
    @Override
    public synchronized void normConv2d(float[] x, int xOff, int height, int width, GroupNorm.Params norm,
                                        StoredTensor weight, float[] bias, Conv2d.Geometry geometry, float[] out,
                                        int outOff, boolean accumulate) {
        if (!OneDnnConvolution.suits(weight, geometry)) {
            super.normConv2d(x, xOff, height, width, norm, weight, bias, geometry, out, outOff, accumulate);
            return;
        }
        int channels = Math.toIntExact(weight.dim(1));
        float[] scale = new float[channels];
        float[] shift = new float[channels];
        GroupNorm.affine(x, xOff, height * width, channels, norm.groups(), norm.weight(), norm.bias(), norm.eps(),
                scale, shift);
        convolution.run(x, xOff, height, width, weight, bias, geometry, out, outOff, accumulate,
                new OneDnnConvolution.Normalization(scale, shift, norm.silu()));
    }

    /** Tests: a smaller decode scratch, so small weights are decoded in several blocks. */
    synchronized void decodeScratchBytes(long bytes) {
        decodeScratchBytes = bytes;
    }

    /** The implementation oneDNN chose for an int8 product of this shape, or null if none ran yet. */
    synchronized String int8Implementation(int m, int k, int n) {
        return int8.implementation(m, k, n);
    }

    /** The implementation oneDNN chose for a linear shape (for logs and benchmarks), or null if not created yet. */
    synchronized String implementation(int m, int k, int n, DType weight, boolean bias) {
        MatmulPrimitive mm = matmuls.get(new Key(m, k, n, weight, bias));
        return mm == null ? null : mm.implementation();
    }
}
