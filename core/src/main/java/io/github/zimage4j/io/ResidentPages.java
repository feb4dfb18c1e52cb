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
 * resident memory. A no-op where the call is unavailable (non-Linux).
 */
final class ResidentPages {

    private ResidentPages() {
    }

    private static final int MADV_DONTNEED = 4;
    private static final MethodHandle MADVISE = lookup();

    private static MethodHandle lookup() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            return null;
        }
        Linker linker = Linker.nativeLinker();
        Optional<MemorySegment> sym = linker.defaultLookup().find("madvise");
        return sym.map(s -> linker.downcallHandle(s, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
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
