package io.github.zimage4j.cuda;

/** A block of device memory; closing frees it (after the stream's queued work, which may still use it). */
public final class DeviceBuffer implements AutoCloseable {

    private final CudaDevice device;
    private final long address;
    private final long bytes;
    private boolean freed;

    DeviceBuffer(CudaDevice device, long address, long bytes) {
        this.device = device;
        this.address = address;
        this.bytes = bytes;
    }

    /** The device address ({@code CUdeviceptr}). */
    public long address() {
        return address;
    }

    /** The device address {@code offset} bytes in, checked against the size. */
    public long at(long offset) {
        if (offset < 0 || offset > bytes) {
            throw new IndexOutOfBoundsException("offset " + offset + " outside a device buffer of " + bytes + " bytes");
        }
        return address + offset;
    }

    public long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        if (!freed) {
            freed = true;
            // Kernels queued on the (non-blocking) stream may still read it: finish them first.
            device.synchronize("finishing work before freeing device memory");
            device.driver().free(address);
        }
    }
}
