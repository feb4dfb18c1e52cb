package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One oneDNN matmul primitive for fixed shapes and layouts, with memory objects whose data pointers are
 * set per call: created once per shape, executed many times.
 */
final class MatmulPrimitive {

    private final Dnnl dnnl;
    private final MemorySegment primitive;
    private final MemorySegment srcMem;
    private final MemorySegment weiMem;
    private final MemorySegment biasMem;
    private final MemorySegment dstMem;
    private final MemorySegment args;
    private final int nargs;
    private final String impl;

    /** Descriptors come from {@link Dnnl#md2} / {@link Dnnl#mdStrided}; {@code biasMd} may be NULL. */
    MatmulPrimitive(Dnnl dnnl, Arena arena, MemorySegment srcMd, MemorySegment weiMd, MemorySegment biasMd,
                    MemorySegment dstMd) throws Throwable {
        this.dnnl = dnnl;
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.matmulPdCreate.invokeExact(out, dnnl.engine, srcMd, weiMd, biasMd, dstMd, MemorySegment.NULL),
                "dnnl_matmul_primitive_desc_create");
        MemorySegment pd = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.pdQuery.invokeExact(pd, Dnnl.QUERY_IMPL_INFO_STR, 0, out), "dnnl_primitive_desc_query");
        impl = out.get(ADDRESS, 0).reinterpret(256).getString(0);
        Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
        primitive = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
        srcMem = memory(arena, srcMd);
        weiMem = memory(arena, weiMd);
        dstMem = memory(arena, dstMd);
        boolean withBias = !biasMd.equals(MemorySegment.NULL);
        biasMem = withBias ? memory(arena, biasMd) : MemorySegment.NULL;
        nargs = withBias ? 4 : 3;
        args = arena.allocate(16L * nargs, 8);
        arg(0, Dnnl.ARG_SRC, srcMem);
        arg(1, Dnnl.ARG_WEIGHTS, weiMem);
        arg(2, Dnnl.ARG_DST, dstMem);
        if (withBias) {
            arg(3, Dnnl.ARG_BIAS, biasMem);
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

    /** Runs dst = src · wei (+ bias) on the given buffers (bias ignored when the primitive has none). */
    void execute(MemorySegment src, MemorySegment wei, MemorySegment bias, MemorySegment dst) {
        try {
            set(srcMem, src);
            set(weiMem, wei);
            set(dstMem, dst);
            if (nargs == 4) {
                set(biasMem, bias);
            }
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(primitive, dnnl.stream, nargs, args), "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(dnnl.stream), "dnnl_stream_wait");
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
