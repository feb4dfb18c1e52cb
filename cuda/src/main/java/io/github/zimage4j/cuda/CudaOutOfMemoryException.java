package io.github.zimage4j.cuda;

/** A device allocation failed: how much was asked for, and how much the device had free then. */
public final class CudaOutOfMemoryException extends CudaCallException {

    private final long requested;
    private final long free;
    private final long total;

    CudaOutOfMemoryException(String function, int code, String codeName, String attempt, long requested, long free,
                             long total) {
        super(function, code, codeName, attempt + ": out of GPU memory: " + function + " of " + mib(requested)
                + " failed with " + codeName + "; the device had " + (free < 0 ? "an unknown amount" : mib(free))
                + " free of " + (total < 0 ? "?" : mib(total)) + ". Free other GPU processes, or lower the image size.");
        this.requested = requested;
        this.free = free;
        this.total = total;
    }

    static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB (%d bytes)", bytes / (1024.0 * 1024.0), bytes);
    }

    public long requestedBytes() {
        return requested;
    }

    /** Free device memory when the allocation failed, or −1 when it could not be queried. */
    public long freeBytes() {
        return free;
    }

    public long totalBytes() {
        return total;
    }
}
