package io.github.zimage4j.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A growable, 64-byte aligned native scratch buffer (oneDNN cannot read the moving Java heap). */
final class NativeBuffer {

    private Arena arena;
    private MemorySegment seg = MemorySegment.NULL;

    /** At least {@code bytes} bytes; the previous contents are lost when it grows. */
    MemorySegment ensure(long bytes) {
        if (seg.byteSize() < bytes) {
            if (arena != null) {
                arena.close();
            }
            arena = Arena.ofShared();
            seg = arena.allocate(Math.max(bytes, 64), 64);
        }
        return seg;
    }
}
