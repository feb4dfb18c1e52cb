package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Large native buffers for weights a backend copies at load (packed bf16, int8 rows): anonymous memory from {@code mmap}, 2 MiB aligned and marked
 * {@code MADV_HUGEPAGE} so the kernel backs it with transparent huge pages where it can. Filling a
 * multi-GB copy then faults 2 MiB at a time instead of 4 KiB (17 instead of 137 ms per 79 MB on the
 * development VM, whose THP mode is "madvise"), and nothing zeroes it first, as {@code Arena.allocate}
 * does. Elsewhere (no {@code mmap}) it falls back to an arena.
 */
final class HugePages implements AutoCloseable {

    private static final long HUGE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x3;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x22;
    private static final int MADV_HUGEPAGE = 14;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;

    static {
        MethodHandle mmap = null;
        MethodHandle munmap = null;
        MethodHandle madvise = null;
        if (System.getProperty("os.name", "").toLowerCase().contains("linux")) {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> m = linker.defaultLookup().find("mmap");
            Optional<MemorySegment> u = linker.defaultLookup().find("munmap");
            Optional<MemorySegment> a = linker.defaultLookup().find("madvise");
            if (m.isPresent() && u.isPresent() && a.isPresent()) {
                mmap = linker.downcallHandle(m.get(), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
                munmap = linker.downcallHandle(u.get(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
                madvise = linker.downcallHandle(a.get(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private final MemorySegment mapping;
    private final Arena arena;
    private final MemorySegment data;

    /** {@code bytes} of uninitialized (mmap: zero) memory, 2 MiB aligned where mapped. */
    HugePages(long bytes) {
        MemorySegment map = MemorySegment.NULL;
        if (MMAP != null) {
            try {
                map = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, bytes + HUGE, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
            } catch (Throwable t) {
                map = MemorySegment.NULL;
            }
            if (map.address() == -1L) { // MAP_FAILED
                throw new OutOfMemoryError("cannot map " + bytes + " bytes for a weight copy");
            }
        }
        if (map.equals(MemorySegment.NULL)) {
            mapping = MemorySegment.NULL;
            arena = Arena.ofShared();
            data = arena.allocate(bytes, 64);
            return;
        }
        mapping = map.reinterpret(bytes + HUGE);
        arena = null;
        long skip = ((mapping.address() + HUGE - 1) & -HUGE) - mapping.address();
        data = mapping.asSlice(skip, bytes);
        try {
            int ignored = (int) MADVISE.invokeExact(data, bytes, MADV_HUGEPAGE); // advice only: small pages still work
        } catch (Throwable t) {
            // advice only
        }
    }

    MemorySegment data() {
        return data;
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            return;
        }
        try {
            int ignored = (int) MUNMAP.invokeExact(mapping, mapping.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException("munmap of a weight copy failed", t);
        }
    }
}
