package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One oneDNN matmul primitive for fixed shapes and layouts, with memory objects whose data pointers are
 * set per call: created once per shape, executed many times. Scratch memory is the caller's: one buffer
 * shared by every primitive (oneDNN would otherwise keep one per primitive, hundreds of MB in all).
 */
final class MatmulPrimitive {

    private final Dnnl dnnl;
    private final MemorySegment primitive;
    private final MemorySegment srcMem;
    private final MemorySegment weiMem;
    private final MemorySegment biasMem;
    private final MemorySegment dstMem;
    private final MemorySegment scratchMem;
    private final long scratchBytes;
    private final MemorySegment args;
    private final int nargs;
    private final String impl;
    private final MemorySegment weightsMd;

    /** Descriptors come from {@link Dnnl#md2} / {@link Dnnl#mdStrided}; {@code biasMd} may be NULL. */
    MatmulPrimitive(Dnnl dnnl, Arena arena, MemorySegment srcMd, MemorySegment weiMd, MemorySegment biasMd,
                    MemorySegment dstMd) throws Throwable {
        this.dnnl = dnnl;
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.attrCreate.invokeExact(out), "dnnl_primitive_attr_create");
        MemorySegment attr = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.attrSetScratchpadMode.invokeExact(attr, Dnnl.SCRATCHPAD_MODE_USER), "dnnl_primitive_attr_set_scratchpad_mode");
        Dnnl.check((int) dnnl.matmulPdCreate.invokeExact(out, dnnl.engine, srcMd, weiMd, biasMd, dstMd, attr),
                "dnnl_matmul_primitive_desc_create");
        Dnnl.check((int) dnnl.attrDestroy.invokeExact(attr), "dnnl_primitive_attr_destroy");
        MemorySegment pd = out.get(ADDRESS, 0);
        // The weights layout the primitive settled on (the one asked for, or its choice for "any").
        Dnnl.check((int) dnnl.mdClone.invokeExact(out, (MemorySegment) dnnl.pdQueryMd.invokeExact(pd, Dnnl.QUERY_WEIGHTS_MD, 0)),
                "dnnl_memory_desc_clone");
        weightsMd = out.get(ADDRESS, 0);
        MemorySegment scratchMd = (MemorySegment) dnnl.pdQueryMd.invokeExact(pd, Dnnl.QUERY_SCRATCHPAD_MD, 0);
        scratchBytes = (long) dnnl.mdGetSize.invokeExact(scratchMd);
        scratchMem = scratchBytes > 0 ? memory(arena, scratchMd) : MemorySegment.NULL;
        Dnnl.check((int) dnnl.pdQuery.invokeExact(pd, Dnnl.QUERY_IMPL_INFO_STR, 0, out), "dnnl_primitive_desc_query");
        impl = out.get(ADDRESS, 0).reinterpret(256).getString(0);
        Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
        primitive = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
        srcMem = memory(arena, srcMd);
        weiMem = memory(arena, weightsMd);
        dstMem = memory(arena, dstMd);
        boolean withBias = !biasMd.equals(MemorySegment.NULL);
        biasMem = withBias ? memory(arena, biasMd) : MemorySegment.NULL;
        nargs = 3 + (withBias ? 1 : 0) + (scratchBytes > 0 ? 1 : 0);
        args = arena.allocate(16L * nargs, 8);
        int i = 0;
        arg(i++, Dnnl.ARG_SRC, srcMem);
        arg(i++, Dnnl.ARG_WEIGHTS, weiMem);
        arg(i++, Dnnl.ARG_DST, dstMem);
        if (withBias) {
            arg(i++, Dnnl.ARG_BIAS, biasMem);
        }
        if (scratchBytes > 0) {
            arg(i, Dnnl.ARG_SCRATCHPAD, scratchMem);
        }
    }

    private MemorySegment memory(Arena arena, MemorySegment md) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, md, dnnl.engine, MemorySegment.NULL), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    private void arg(int i, int kind, MemorySegment mem) {
        args.set(JAVA_INT, 16L * i, kind);
        args.set(ADDRESS, 16L * i + 8, mem);
    }

    /** The implementation oneDNN chose, e.g. "brg_matmul:avx10_1_512_amx". */
    String implementation() {
        return impl;
    }

    /** The weights' memory descriptor: what {@link #execute}'s {@code wei} must hold. */
    MemorySegment weightsMd() {
        return weightsMd;
    }

    /** Scratch bytes this primitive needs in {@link #execute}'s {@code scratch} buffer. */
    long scratchBytes() {
        return scratchBytes;
    }

    /**
     * Runs dst = src · wei (+ bias) on the given buffers (bias ignored when the primitive has none);
     * {@code scratch} holds at least {@link #scratchBytes()} bytes.
     */
    void execute(MemorySegment src, MemorySegment wei, MemorySegment bias, MemorySegment dst, NativeBuffer scratch) {
        execute(src, wei, bias, dst, scratch, dnnl.stream);
    }

    /**
     * As above, on the given stream. Threads may run primitives concurrently, each on its own
     * {@link MatmulPrimitive} (the memory objects are per instance), stream and scratch.
     */
    void execute(MemorySegment src, MemorySegment wei, MemorySegment bias, MemorySegment dst, NativeBuffer scratch,
                 MemorySegment stream) {
        try {
            set(srcMem, src);
            set(weiMem, wei);
            set(dstMem, dst);
            if (!biasMem.equals(MemorySegment.NULL)) {
                set(biasMem, bias);
            }
            if (scratchBytes > 0) {
                set(scratchMem, scratch.ensure(scratchBytes));
            }
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(primitive, stream, nargs, args), "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(stream), "dnnl_stream_wait");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("oneDNN matmul failed", t);
        }
    }

    private void set(MemorySegment mem, MemorySegment data) throws Throwable {
        Dnnl.check((int) dnnl.memorySetDataHandle.invokeExact(mem, data), "dnnl_memory_set_data_handle");
    }
}
