package io.github.zimage4j.io;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Drops the pages of a read-only file mapping from this process's resident set ({@code madvise
 * MADV_DONTNEED}). The data stays in the OS page cache and is mapped back, without disk reads while the
 * cache holds it, on next use. This lets a pipeline hold only the model of the current stage in its
 * resident memory, and a backend that keeps its own copy of a weight drop the mapped one. A no-op where
 * the call is unavailable (non-Linux).
 */
public final class ResidentPages {

    private ResidentPages() {
    }

    private static final int MADV_WILLNEED = 3;
    private static final int MADV_DONTNEED = 4;
    private static final MethodHandle MADVISE = lookup();
    private static final long PAGE = pageSize();

    private static MethodHandle lookup() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return null;
        }
        Linker linker = Linker.nativeLinker();
        Optional<MemorySegment> sym = linker.defaultLookup().find("madvise");
        return sym.map(s -> linker.downcallHandle(s, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
    }

    /**
     * Releases the whole pages inside a slice of a read-only file mapping, e.g. one tensor of a checkpoint:
     * the partial pages at either end, which neighbouring data shares, stay. Only file-mapped memory is
     * touched ({@link MemorySegment#isMapped()}): on anonymous memory the call would discard the data.
     *
     * @return the bytes released, 0 if nothing was (not mapped, under a page, or the call is unavailable)
     */
    public static long releaseWithin(MemorySegment slice) {
        if (MADVISE == null || !slice.isMapped()) {
            return 0;
        }
        long start = slice.address();
        long from = (start + PAGE - 1) & -PAGE;
        long to = (start + slice.byteSize()) & -PAGE;
        if (to <= from) {
            return 0;
        }
        try {
            return (int) MADVISE.invokeExact(slice.asSlice(from - start, to - from), to - from, MADV_DONTNEED) == 0 ? to - from : 0;
        } catch (Throwable t) {
            return 0;
        }
    }

    /**
     * Asks the kernel to start reading a slice of a file mapping into the page cache now ({@code
     * MADV_WILLNEED}), in large requests and without waiting, so that a reader working through it sequentially
     * finds it there instead of faulting it in 128 KB at a time. Advice only: does nothing on memory that is
     * not file-mapped or where the call is unavailable.
     */
    public static void prefetch(MemorySegment slice) {
        if (MADVISE == null || !slice.isMapped() || slice.byteSize() == 0) {
            return;
        }
        long start = slice.address() & -PAGE;
        long length = slice.address() + slice.byteSize() - start;
        try {
            int ignored = (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), length, MADV_WILLNEED);
        } catch (Throwable t) {
            // advice only
        }
    }

    private static long pageSize() {
        if (MADVISE == null) {
            return 4096;
        }
        Linker linker = Linker.nativeLinker();
        try {
            Optional<MemorySegment> sym = linker.defaultLookup().find("getpagesize");
            if (sym.isPresent()) {
                int size = (int) linker.downcallHandle(sym.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact();
                if (size > 0 && Integer.bitCount(size) == 1) {
                    return size;
                }
            }
        } catch (Throwable t) {
            // fall through to the common size
        }
        return 4096;
    }

    /** Releases a whole mapping (page-aligned, as FileChannel.map returns it); true on success. */
    static boolean release(MemorySegment mapping) {
        if (MADVISE == null || !mapping.isNative() || mapping.byteSize() == 0) {
            return false;
        }
        try {
            return (int) MADVISE.invokeExact(mapping, mapping.byteSize(), MADV_DONTNEED) == 0;
        } catch (Throwable t) {
            return false;
        }
    }
}
