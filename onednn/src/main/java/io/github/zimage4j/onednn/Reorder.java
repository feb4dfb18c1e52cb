package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/** A oneDNN reorder between two fixed layouts (e.g. row-major weights into a matmul's blocked layout); data pointers set per call. */
final class Reorder {

    private final Dnnl dnnl;
    private final MemorySegment primitive;
    private final MemorySegment fromMem;
    private final MemorySegment toMem;
    private final MemorySegment args;

    Reorder(Dnnl dnnl, Arena arena, MemorySegment fromMd, MemorySegment toMd) throws Throwable {
        this.dnnl = dnnl;
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.reorderPdCreate.invokeExact(out, fromMd, dnnl.engine, toMd, dnnl.engine, MemorySegment.NULL),
                "dnnl_reorder_primitive_desc_create");
        MemorySegment pd = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
        primitive = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
        fromMem = memory(arena, fromMd);
        toMem = memory(arena, toMd);
        args = arena.allocate(32, 8);
        args.set(JAVA_INT, 0, Dnnl.ARG_FROM);
        args.set(ADDRESS, 8, fromMem);
        args.set(JAVA_INT, 16, Dnnl.ARG_TO);
        args.set(ADDRESS, 24, toMem);
    }

    private MemorySegment memory(Arena arena, MemorySegment md) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, md, dnnl.engine, MemorySegment.NULL), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    /** Copies {@code from} (the first layout) into {@code to} (the second). */
    void execute(MemorySegment from, MemorySegment to) {
        execute(from, to, dnnl.stream);
    }

    /** As above, on the given stream (threads running reorders concurrently each use their own instance and stream). */
    void execute(MemorySegment from, MemorySegment to, MemorySegment stream) {
        try {
            Dnnl.check((int) dnnl.memorySetDataHandle.invokeExact(fromMem, from), "dnnl_memory_set_data_handle");
            Dnnl.check((int) dnnl.memorySetDataHandle.invokeExact(toMem, to), "dnnl_memory_set_data_handle");
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(primitive, stream, 2, args), "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(stream), "dnnl_stream_wait");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("oneDNN reorder failed", t);
        }
    }
}
