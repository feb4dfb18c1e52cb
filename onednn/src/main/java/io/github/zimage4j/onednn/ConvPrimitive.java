package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One oneDNN forward convolution for fixed shapes: nhwc source (bf16 or f32), weights in whatever layout
 * oneDNN prefers for this shape ({@link #weightsMd()}, filled by a reorder), f32 bias, f32 nhwc
 * destination. Rows are never padded by the primitive (the caller writes zero rows into the source),
 * columns are. Data pointers are set per call; scratch memory is the caller's, as for
 * {@link MatmulPrimitive}.
 */
final class ConvPrimitive {

    /**
     * @param srcH rows of the source band (padding rows included); the destination has
     *             {@code (srcH − kh) / stride + 1} rows
     */
    record Shape(int cin, int cout, int srcH, int srcW, int kh, int kw, int stride, int padLeft, int padRight,
                 boolean bf16) {

        int dstH() {
            return (srcH - kh) / stride + 1;
        }

        int dstW() {
            return (srcW + padLeft + padRight - kw) / stride + 1;
        }
    }

    private final Dnnl dnnl;
    private final Shape shape;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment primitive;
    private final MemorySegment weightsMd;
    private final long weightsBytes;
    private final MemorySegment[] mems;
    private final long scratchBytes;
    private final MemorySegment args;
    private final String impl;

    ConvPrimitive(Dnnl dnnl, Shape s) throws Throwable {
        this.dnnl = dnnl;
        this.shape = s;
        int act = s.bf16() ? Dnnl.BF16 : Dnnl.F32;
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment srcMd = dnnl.md4(tmp, 1, s.cin(), s.srcH(), s.srcW(), act, Dnnl.TAG_ACDB);
            MemorySegment anyWei = dnnl.md4(tmp, s.cout(), s.cin(), s.kh(), s.kw(), act, Dnnl.TAG_ANY);
            MemorySegment biasMd = dnnl.md1(tmp, s.cout(), Dnnl.F32);
            MemorySegment dstMd = dnnl.md4(tmp, 1, s.cout(), s.dstH(), s.dstW(), Dnnl.F32, Dnnl.TAG_ACDB);
            MemorySegment strides = dims(tmp, s.stride(), s.stride());
            MemorySegment dilates = dims(tmp, 0, 0);
            MemorySegment padL = dims(tmp, 0, s.padLeft());
            MemorySegment padR = dims(tmp, 0, s.padRight());
            MemorySegment out = tmp.allocate(ADDRESS);
            Dnnl.check((int) dnnl.attrCreate.invokeExact(out), "dnnl_primitive_attr_create");
            MemorySegment attr = out.get(ADDRESS, 0);
            Dnnl.check((int) dnnl.attrSetScratchpadMode.invokeExact(attr, Dnnl.SCRATCHPAD_MODE_USER),
                    "dnnl_primitive_attr_set_scratchpad_mode");
            int status = (int) dnnl.convPdCreate.invokeExact(out, dnnl.engine, Dnnl.FORWARD_INFERENCE,
                    Dnnl.CONVOLUTION_DIRECT, srcMd, anyWei, biasMd, dstMd, strides, dilates, padL, padR, attr);
            Dnnl.check((int) dnnl.attrDestroy.invokeExact(attr), "dnnl_primitive_attr_destroy");
            Dnnl.check(status, "dnnl_convolution_forward_primitive_desc_create for " + s);
            MemorySegment pd = out.get(ADDRESS, 0);
            try {
                // The query answers descriptors owned by the pd: keep a clone of the weights layout.
                MemorySegment wq = (MemorySegment) dnnl.pdQueryMd.invokeExact(pd, Dnnl.QUERY_WEIGHTS_MD, 0);
                Dnnl.check((int) dnnl.mdClone.invokeExact(out, wq), "dnnl_memory_desc_clone");
                weightsMd = out.get(ADDRESS, 0);
                weightsBytes = (long) dnnl.mdGetSize.invokeExact(weightsMd);
                MemorySegment scratchMd = (MemorySegment) dnnl.pdQueryMd.invokeExact(pd, Dnnl.QUERY_SCRATCHPAD_MD, 0);
                scratchBytes = (long) dnnl.mdGetSize.invokeExact(scratchMd);
                Dnnl.check((int) dnnl.pdQuery.invokeExact(pd, Dnnl.QUERY_IMPL_INFO_STR, 0, out), "dnnl_primitive_desc_query");
                impl = out.get(ADDRESS, 0).reinterpret(256).getString(0);
                Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
                primitive = out.get(ADDRESS, 0);
                mems = new MemorySegment[]{memory(srcMd), memory(weightsMd), memory(biasMd), memory(dstMd),
                        scratchBytes > 0 ? memory(scratchMd) : MemorySegment.NULL};
            } finally {
                Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
            }
            for (MemorySegment md : new MemorySegment[]{srcMd, anyWei, biasMd, dstMd}) {
                Dnnl.check((int) dnnl.mdDestroy.invokeExact(md), "dnnl_memory_desc_destroy");
            }
        }
        int[] kinds = {Dnnl.ARG_SRC, Dnnl.ARG_WEIGHTS, Dnnl.ARG_BIAS, Dnnl.ARG_DST, Dnnl.ARG_SCRATCHPAD};
        int n = scratchBytes > 0 ? 5 : 4;
        args = arena.allocate(16L * n, 8);
        for (int i = 0; i < n; i++) {
            args.set(JAVA_INT, 16L * i, kinds[i]);
            args.set(ADDRESS, 16L * i + 8, mems[i]);
        }
    }

    private static MemorySegment dims(Arena a, long d0, long d1) {
        MemorySegment d = a.allocate(JAVA_LONG, 12);
        d.setAtIndex(JAVA_LONG, 0, d0);
        d.setAtIndex(JAVA_LONG, 1, d1);
        return d;
    }

    private MemorySegment memory(MemorySegment md) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, md, dnnl.engine, MemorySegment.NULL), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    Shape shape() {
        return shape;
    }

    /** The weights layout this primitive reads (valid until {@link #close}). */
    MemorySegment weightsMd() {
        return weightsMd;
    }

    /** Bytes of weights in {@link #weightsMd()}'s layout. */
    long weightsBytes() {
        return weightsBytes;
    }

    /** The implementation oneDNN chose, e.g. "brg_conv_fwd:avx512_core_bf16". */
    String implementation() {
        return impl;
    }

    long scratchBytes() {
        return scratchBytes;
    }

    /** dst = conv(src, wei) + bias on the given native buffers. */
    void execute(MemorySegment src, MemorySegment wei, MemorySegment bias, MemorySegment dst, NativeBuffer scratch) {
        try {
            set(mems[0], src);
            set(mems[1], wei);
            set(mems[2], bias);
            set(mems[3], dst);
            if (scratchBytes > 0) {
                set(mems[4], scratch.ensure(scratchBytes));
            }
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(primitive, dnnl.stream, (int) (args.byteSize() / 16), args),
                    "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(dnnl.stream), "dnnl_stream_wait");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("oneDNN convolution failed", t);
        }
    }

    private void set(MemorySegment mem, MemorySegment data) throws Throwable {
        Dnnl.check((int) dnnl.memorySetDataHandle.invokeExact(mem, data), "dnnl_memory_set_data_handle");
    }

    /** Frees the native primitive, its memory objects and descriptors. */
    void close() {
        try {
            Dnnl.check((int) dnnl.primitiveDestroy.invokeExact(primitive), "dnnl_primitive_destroy");
            for (MemorySegment m : mems) {
                if (!m.equals(MemorySegment.NULL)) {
                    Dnnl.check((int) dnnl.memoryDestroy.invokeExact(m), "dnnl_memory_destroy");
                }
            }
            Dnnl.check((int) dnnl.mdDestroy.invokeExact(weightsMd), "dnnl_memory_desc_destroy");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot free a oneDNN convolution", t);
        }
        arena.close();
    }
}
