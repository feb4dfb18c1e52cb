package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Activations;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.kernels.Exp;
import io.github.zimage4j.kernels.GroupNorm;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.kernels.WeightRows;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Channels-last convolutions ({@link Conv2d}'s contract) on oneDNN's direct convolution: bf16 products
 * (f32 accumulation) for a BF16 weight, f32 for every other dtype the Java kernels decode.
 *
 * <p><b>Weights</b> are decoded once and reordered into the layout oneDNN prefers for the shape, cached per
 * weight tensor (weakly: they go with the model). That copy is what the VAE costs in memory, ≈ 84 M
 * parameters (170 MB as bf16) for the Flux VAE, never a transformer-sized matrix.
 *
 * <p><b>Nearest upsampling</b> is never materialized. With stride 1, output pixel {@code u·y + r} of a
 * k-tap kernel on the u×-upsampled input reads original rows {@code y + ⌊(r − pad + t)/u⌋}: for each of
 * the u phases r, taps landing on the same original row are summed into one. The u² phases become one
 * convolution with u²·Cout output channels on the original input (a 3×3 kernel after ×2 turns into a 2×2
 * one: 16 instead of 36 taps per original pixel), whose results are scattered into place. In float32 the
 * only change is summation order; in bf16 the summed taps are rounded to bf16 once.
 *
 * <p><b>Bands:</b> output rows go through in bands of about {@link #BAND_BYTES}, each a copy of the input
 * rows it reads (as bf16 or f32, zero rows for the vertical padding) into native memory, the primitive,
 * and a copy (or, with {@code accumulate}, an add) of the result into the Java output. Native memory stays
 * bounded whatever the image size; the heap copies are needed anyway, since activations are Java arrays.
 * The residual add and the phase scatter are part of that copy, so neither costs a pass of its own.
 */
final class OneDnnConvolution {

    /** Largest source or destination band in native memory. */
    static final long BAND_BYTES = 32L << 20;
    private static final int MAX_PRIMITIVES = 64;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SHORTS = VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final int CHUNK = 1 << 15;

    private final Dnnl dnnl;
    private final NativeBuffer scratch;
    private long bandBytes = BAND_BYTES;
    private final NativeBuffer src = new NativeBuffer();
    private final NativeBuffer dst = new NativeBuffer();
    private final NativeBuffer bias = new NativeBuffer();
    /** Distinct weight layouts (clones owned here), so equal layouts of different primitives share a weight copy. */
    private final List<MemorySegment> layouts = new ArrayList<>();

    private record Cached(ConvPrimitive primitive, int layout) {
    }

    private final Map<ConvPrimitive.Shape, Cached> primitives = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<ConvPrimitive.Shape, Cached> eldest) {
            if (size() > MAX_PRIMITIVES) {
                eldest.getValue().primitive().close();
                return true;
            }
            return false;
        }
    };

    private record WeightKey(Conv2d.Geometry geometry, int layout) {
    }

    /** Reordered weights per weight tensor (identity keys: StoredTensor does not override equals). */
    private final Map<StoredTensor, Map<WeightKey, MemorySegment>> weights = new WeakHashMap<>();

    OneDnnConvolution(Dnnl dnnl, NativeBuffer scratch) {
        this.dnnl = dnnl;
        this.scratch = scratch;
    }

    /**
     * How the geometry becomes one convolution on the original input: per axis, the lowered kernel size, the
     * offset of the first input row (column) a grid position reads, and for each of the u phases the shift
     * between grid and output positions and how many output positions it has. Without upsampling there is
     * one phase and the grid is the output.
     */
    record Axis(int u, int kernel, int stride, int base, int[] shift, int[] count, int grid) {

        static Axis of(int k, int pad0, int out, int u, int stride) {
            if (u == 1) {
                return new Axis(1, k, stride, -pad0, new int[]{0}, new int[]{out}, out);
            }
            int[] dmin = new int[u];
            int lowered = 0;
            int base = Integer.MAX_VALUE;
            for (int r = 0; r < u; r++) {
                dmin[r] = Math.floorDiv(r - pad0, u);
                lowered = Math.max(lowered, Math.floorDiv(r - pad0 + k - 1, u) - dmin[r] + 1);
                base = Math.min(base, dmin[r]);
            }
            int[] shift = new int[u];
            int[] count = new int[u];
            int grid = 0;
            for (int r = 0; r < u; r++) {
                shift[r] = dmin[r] - base;
                count[r] = out > r ? (out - r + u - 1) / u : 0;
                grid = Math.max(grid, count[r] + shift[r]);
            }
            return new Axis(u, lowered, 1, base, shift, count, grid);
        }
    }

    /**
     * Whether this path takes the call: a dtype the Java kernels decode (not block-quantized, whose products
     * the backend rounds differently), and no upsampling combined with a stride.
     */
    static boolean suits(StoredTensor weight, Conv2d.Geometry g) {
        return weight.rank() == 4 && !weight.dtype().isQuantized() && WeightRows.decodes(weight.dtype())
                && (g.upsample() == 1 || g.stride() == 1);
    }

    /**
     * A per-channel affine map (a GroupNorm's, {@link GroupNorm#affine}), optionally then SiLU, applied to the
     * input as it is copied into the source band: the convolution of the normalized map, which never exists.
     */
    record Normalization(float[] scale, float[] shift, boolean silu) {
    }

    void run(float[] x, int xOff, int height, int width, StoredTensor weight, float[] b, Conv2d.Geometry g,
             float[] out, int outOff, boolean accumulate) {
        run(x, xOff, height, width, weight, b, g, out, outOff, accumulate, null);
    }

    /** {@code out = conv(norm(x)) + b} (or {@code +=}); norm null for x as is. */
    void run(float[] x, int xOff, int height, int width, StoredTensor weight, float[] b, Conv2d.Geometry g,
             float[] out, int outOff, boolean accumulate, Normalization norm) {
        Conv2d.checkArguments(x, xOff, height, width, weight, b, g, out, outOff);
        int cout = Math.toIntExact(weight.dim(0));
        int cin = Math.toIntExact(weight.dim(1));
        int kh = Math.toIntExact(weight.dim(2));
        int kw = Math.toIntExact(weight.dim(3));
        int oh = g.outHeight(height, kh);
        int ow = g.outWidth(width, kw);
        Axis ay = Axis.of(kh, g.padTop(), oh, g.upsample(), g.stride());
        Axis ax = Axis.of(kw, g.padLeft(), ow, g.upsample(), g.stride());
        int padLeft = -ax.base();
        int padRight = g.upsample() == 1 ? g.padRight() : ax.grid() - 1 + ax.kernel() - width - padLeft;
        if (padLeft < 0 || padRight < 0) {
            // Never for the padding a model uses; the Java kernel handles any geometry.
            if (norm != null) {
                x = normalized(x, xOff, height * width, Math.toIntExact(weight.dim(1)), norm);
                xOff = 0;
            }
            Conv2d.conv2d(x, xOff, height, width, weight, b, g, out, outOff, accumulate);
            return;
        }
        boolean bf16 = weight.dtype() == DType.BF16;
        int phases = g.upsample() * g.upsample();
        int coutL = phases * cout;
        int actBytes = bf16 ? 2 : 4;
        long srcRow = (long) width * cin * actBytes;
        long dstRow = (long) ax.grid() * coutL * 4;
        int band = (int) Math.max(1, Math.min(ay.grid(), bandBytes / Math.max(srcRow * ay.stride(), dstRow)));
        MemorySegment biasSeg = bias.ensure(4L * coutL);
        for (int p = 0; p < phases; p++) {
            if (b != null) {
                MemorySegment.copy(b, 0, biasSeg, Bf16.F32, 4L * p * cout, cout);
            } else {
                biasSeg.asSlice(4L * p * cout, 4L * cout).fill((byte) 0);
            }
        }
        for (int y0 = 0; y0 < ay.grid(); y0 += band) {
            int rows = Math.min(band, ay.grid() - y0);
            int srcH = (rows - 1) * ay.stride() + ay.kernel();
            ConvPrimitive.Shape shape = new ConvPrimitive.Shape(cin, coutL, srcH, width, ay.kernel(), ax.kernel(),
                    ay.stride(), padLeft, padRight, bf16);
            Cached e = primitive(shape);
            MemorySegment wei = weights(weight, g, ay, ax, e);
            MemorySegment s = src.ensure(srcRow * srcH);
            copyIn(x, xOff, height, width, cin, y0 * ay.stride() + ay.base(), srcH, s, bf16, norm);
            MemorySegment d = dst.ensure(dstRow * rows);
            e.primitive().execute(s, wei, biasSeg, d, scratch);
            if (phases == 1) {
                copyOut(d, (long) rows * ow * cout, out, outOff + y0 * ow * cout, accumulate);
            } else {
                scatter(d, y0, rows, ay, ax, cout, ow, out, outOff, accumulate);
            }
        }
    }

    /** Tests: smaller bands, so small images go through in several. */
    void bandBytes(long bytes) {
        bandBytes = bytes;
    }

    /** The implementation oneDNN chose for the primitives created so far (for logs and tests). */
    List<String> implementations() {
        return primitives.entrySet().stream().map(e -> e.getKey() + " → " + e.getValue().primitive().implementation()).toList();
    }

    private Cached primitive(ConvPrimitive.Shape shape) {
        Cached e = primitives.get(shape);
        if (e != null) {
            return e;
        }
        try {
            ConvPrimitive p = new ConvPrimitive(dnnl, shape);
            int layout = -1;
            for (int i = 0; i < layouts.size() && layout < 0; i++) {
                if ((int) dnnl.mdEqual.invokeExact(layouts.get(i), p.weightsMd()) != 0) {
                    layout = i;
                }
            }
            if (layout < 0) {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment out = a.allocate(ADDRESS);
                    Dnnl.check((int) dnnl.mdClone.invokeExact(out, p.weightsMd()), "dnnl_memory_desc_clone");
                    layouts.add(out.get(ADDRESS, 0));
                }
                layout = layouts.size() - 1;
            }
            e = new Cached(p, layout);
        } catch (RuntimeException | Error ex) {
            throw ex;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot create a oneDNN convolution for " + shape, t);
        }
        primitives.put(shape, e);
        return e;
    }

    /** The weight in the primitive's layout: decoded, lowered and reordered on first use. */
    private MemorySegment weights(StoredTensor w, Conv2d.Geometry g, Axis ay, Axis ax, Cached e) {
        Map<WeightKey, MemorySegment> forWeight = weights.computeIfAbsent(w, k -> new HashMap<>());
        WeightKey key = new WeightKey(g, e.layout());
        MemorySegment seg = forWeight.get(key);
        if (seg == null) {
            seg = reorder(lower(w, g, ay, ax), w.dtype() == DType.BF16, e.primitive());
            forWeight.put(key, seg);
        }
        return seg;
    }

    /**
     * The lowered weight [u²·Cout, Cin, kh', kw'] (oihw) as floats: the stored weight without upsampling,
     * else for each phase (ry, rx) the stored taps summed onto the original-input taps they read.
     */
    static float[] lower(StoredTensor w, Conv2d.Geometry g, Axis ay, Axis ax) {
        int cout = Math.toIntExact(w.dim(0));
        int cin = Math.toIntExact(w.dim(1));
        int kh = Math.toIntExact(w.dim(2));
        int kw = Math.toIntExact(w.dim(3));
        int rowLen = cin * kh * kw;
        int u = g.upsample();
        int lh = ay.kernel();
        int lw = ax.kernel();
        float[] lowered = new float[u * u * cout * cin * lh * lw];
        if (u == 1) {
            Parallel.get().forEach(cout, co -> WeightRows.decode(w, (long) co * rowLen, rowLen, lowered, co * rowLen));
            return lowered;
        }
        int[][] tapY = taps(ay, kh, g.padTop());
        int[][] tapX = taps(ax, kw, g.padLeft());
        Parallel.get().forEach(cout, co -> {
            float[] row = new float[rowLen];
            WeightRows.decode(w, (long) co * rowLen, rowLen, row, 0);
            for (int ry = 0; ry < u; ry++) {
                for (int rx = 0; rx < u; rx++) {
                    int base = ((ry * u + rx) * cout + co) * cin * lh * lw;
                    for (int ci = 0; ci < cin; ci++) {
                        for (int ky = 0; ky < kh; ky++) {
                            for (int kx = 0; kx < kw; kx++) {
                                lowered[base + (ci * lh + tapY[ry][ky]) * lw + tapX[rx][kx]] += row[(ci * kh + ky) * kw + kx];
                            }
                        }
                    }
                }
            }
        });
        return lowered;
    }

    /** taps[r][t]: the lowered tap that original tap t of phase r adds to. */
    private static int[][] taps(Axis a, int k, int pad0) {
        int u = a.u();
        int[][] t = new int[u][k];
        for (int r = 0; r < u; r++) {
            for (int i = 0; i < k; i++) {
                // Phase r's output y reads original row y + ⌊(r − pad0 + i)/u⌋ = grid window row
                // (y + shift[r]) + base + tap.
                t[r][i] = Math.floorDiv(r - pad0 + i, u) - a.shift()[r] - a.base();
            }
        }
        return t;
    }

    /** The floats as bf16 or f32 in oihw order, reordered into the primitive's layout in a GC-managed segment. */
    private MemorySegment reorder(float[] lowered, boolean bf16, ConvPrimitive p) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment wq = p.weightsMd();
            MemorySegment out = tmp.allocate(ADDRESS);
            MemorySegment user = tmp.allocate((long) lowered.length * (bf16 ? 2 : 4), 64);
            if (bf16) {
                Bf16.storeRun(lowered, 0, lowered.length, user, 0);
            } else {
                MemorySegment.copy(lowered, 0, user, Bf16.F32, 0, lowered.length);
            }
            MemorySegment result = Arena.ofAuto().allocate(p.weightsBytes(), 64);
            MemorySegment userMd = dnnl.md4(tmp, p.shape().cout(), p.shape().cin(), p.shape().kh(), p.shape().kw(),
                    bf16 ? Dnnl.BF16 : Dnnl.F32, Dnnl.TAG_ABCD);
            Dnnl.check((int) dnnl.reorderPdCreate.invokeExact(out, userMd, dnnl.engine, wq, dnnl.engine, MemorySegment.NULL),
                    "dnnl_reorder_primitive_desc_create");
            MemorySegment pd = out.get(ADDRESS, 0);
            Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
            MemorySegment prim = out.get(ADDRESS, 0);
            Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
            Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, userMd, dnnl.engine, user), "dnnl_memory_create");
            MemorySegment from = out.get(ADDRESS, 0);
            Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, wq, dnnl.engine, result), "dnnl_memory_create");
            MemorySegment to = out.get(ADDRESS, 0);
            MemorySegment args = tmp.allocate(32, 8);
            args.set(JAVA_INT, 0, Dnnl.ARG_FROM);
            args.set(ADDRESS, 8, from);
            args.set(JAVA_INT, 16, Dnnl.ARG_TO);
            args.set(ADDRESS, 24, to);
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(prim, dnnl.stream, 2, args), "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(dnnl.stream), "dnnl_stream_wait");
            Dnnl.check((int) dnnl.primitiveDestroy.invokeExact(prim), "dnnl_primitive_destroy");
            Dnnl.check((int) dnnl.memoryDestroy.invokeExact(from), "dnnl_memory_destroy");
            Dnnl.check((int) dnnl.memoryDestroy.invokeExact(to), "dnnl_memory_destroy");
            Dnnl.check((int) dnnl.mdDestroy.invokeExact(userMd), "dnnl_memory_desc_destroy");
            return result;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot reorder convolution weights for " + p.shape(), t);
        }
    }

    /**
     * Input rows [row0, row0 + rows) of x into the source band, rows outside the image as zeros.
     */
    private static void copyIn(float[] x, int xOff, int height, int width, int cin, int row0, int rows,
                               MemorySegment s, boolean bf16, Normalization norm) {
        long rowElems = (long) width * cin;
        int first = Math.max(0, row0);
        int end = Math.min(height, row0 + rows);
        int bytes = bf16 ? 2 : 4;
        if (first > row0) {
            s.asSlice(0, (first - row0) * rowElems * bytes).fill((byte) 0);
        }
        if (row0 + rows > end) {
            long from = Math.max(0, end - row0) * rowElems * bytes;
            s.asSlice(from, rows * rowElems * bytes - from).fill((byte) 0);
        }
        if (end <= first) {
            return;
        }
        int count = Math.toIntExact((end - first) * rowElems);
        int off = xOff + Math.toIntExact(first * rowElems);
        long at = (first - row0) * rowElems;
        if (norm != null) {
            int pixels = count / cin;
            int perTask = Math.max(1, CHUNK / cin);
            Parallel.get().forEach((pixels + perTask - 1) / perTask, t -> {
                int p0 = t * perTask;
                int n = Math.min(perTask, pixels - p0);
                storeNormalized(x, off + p0 * cin, n, cin, norm, s, at + (long) p0 * cin, bf16);
            });
        } else if (bf16) {
            Bf16.store(x, off, count, s, at);
        } else {
            Parallel.get().forEach((count + CHUNK - 1) / CHUNK, t -> {
                int i = t * CHUNK;
                MemorySegment.copy(x, off + i, s, Bf16.F32, 4 * (at + i), Math.min(CHUNK, count - i));
            });
        }
    }

    /**
     * {@code dst = norm(x)} over {@code pixels} pixels of {@code channels}, as bf16 or f32: the same float
     * operations as {@link GroupNorm#groupNorm}'s output pass, so the values are those it would have written.
     */
    private static void storeNormalized(float[] x, int off, int pixels, int channels, Normalization norm,
                                        MemorySegment dst, long dstIndex, boolean bf16) {
        float[] scale = norm.scale();
        float[] shift = norm.shift();
        for (int p = 0; p < pixels; p++) {
            int xi = off + p * channels;
            long di = dstIndex + (long) p * channels;
            int c = 0;
            for (; c + S.length() <= channels; c += S.length()) {
                FloatVector v = FloatVector.fromArray(S, x, xi + c)
                        .fma(FloatVector.fromArray(S, scale, c), FloatVector.fromArray(S, shift, c));
                if (norm.silu()) {
                    v = Exp.silu(v);
                }
                if (bf16) {
                    // Inline, as in Bf16.storeRun: a vector passed to a call that is not inlined is boxed.
                    IntVector bits = v.reinterpretAsInts();
                    IntVector lsb = bits.lanewise(VectorOperators.LSHR, 16).and(1);
                    IntVector rounded = bits.add(0x7FFF).add(lsb).lanewise(VectorOperators.LSHR, 16);
                    ((ShortVector) rounded.convertShape(VectorOperators.I2S, SHORTS, 0))
                            .intoMemorySegment(dst, 2 * (di + c), ByteOrder.LITTLE_ENDIAN);
                } else {
                    v.intoMemorySegment(dst, 4 * (di + c), ByteOrder.LITTLE_ENDIAN);
                }
            }
            for (; c < channels; c++) {
                float v = x[xi + c] * scale[c] + shift[c];
                v = norm.silu() ? Activations.silu(v) : v;
                if (bf16) {
                    dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * (di + c), FloatFormats.floatToBf16(v));
                } else {
                    dst.set(Bf16.F32, 4 * (di + c), v);
                }
            }
        }
    }

    /** A normalized copy of x on the heap, for the Java kernel. */
    private static float[] normalized(float[] x, int xOff, int pixels, int channels, Normalization norm) {
        float[] y = new float[pixels * channels];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocate(4L * y.length, 64);
            storeNormalized(x, xOff, pixels, channels, norm, seg, 0, false);
            MemorySegment.copy(seg, Bf16.F32, 0, y, 0, y.length);
        }
        return y;
    }

    /** out[outOff …] = d (or += d) over n floats. */
    private static void copyOut(MemorySegment d, long n, float[] out, int outOff, boolean accumulate) {
        int count = Math.toIntExact(n);
        Parallel.get().forEach((count + CHUNK - 1) / CHUNK, t -> {
            int i = t * CHUNK;
            put(d, 4L * i, out, outOff + i, Math.min(CHUNK, count - i), accumulate);
        });
    }

    private static void put(MemorySegment d, long byteOff, float[] out, int o, int n, boolean accumulate) {
        if (!accumulate) {
            MemorySegment.copy(d, Bf16.F32, byteOff, out, o, n);
            return;
        }
        int i = 0;
        for (; i + S.length() <= n; i += S.length()) {
            FloatVector.fromMemorySegment(S, d, byteOff + 4L * i, ByteOrder.LITTLE_ENDIAN)
                    .add(FloatVector.fromArray(S, out, o + i)).intoArray(out, o + i);
        }
        for (; i < n; i++) {
            out[o + i] += d.get(Bf16.F32, byteOff + 4L * i);
        }
    }

    /**
     * Grid rows [y0, y0 + rows) of an upsampled convolution into place: grid (Y, X), phase (ry, rx) is output
     * pixel (u·(Y − shiftY) + ry, u·(X − shiftX) + rx), where that lies in the output.
     */
    private static void scatter(MemorySegment d, int y0, int rows, Axis ay, Axis ax, int cout, int ow, float[] out,
                                int outOff, boolean accumulate) {
        int u = ay.u();
        int gw = ax.grid();
        long pixel = 4L * u * u * cout;
        Parallel.get().forEach(rows * u, t -> {
            int gy = y0 + t / u;
            int ry = t % u;
            int y = gy - ay.shift()[ry];
            if (y < 0 || y >= ay.count()[ry]) {
                return;
            }
            int oy = u * y + ry;
            for (int rx = 0; rx < u; rx++) {
                int xs = ax.shift()[rx];
                for (int x = 0; x < ax.count()[rx]; x++) {
                    long at = ((long) (gy - y0) * gw + x + xs) * pixel + 4L * (ry * u + rx) * cout;
                    put(d, at, out, outOff + (oy * ow + u * x + rx) * cout, cout, accumulate);
                }
            }
        });
    }
}
