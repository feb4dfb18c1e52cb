package io.github.zimage4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One GPU in use: its primary context (shared with cuBLASLt), a non-blocking stream every operation of
 * this module is queued on, and what the kernels need to know about it (compute capability, SM count).
 * Any thread may use it; each is made current on its first call. Close it to release the context.
 */
public final class CudaDevice implements AutoCloseable {

    private final CudaDriver driver;
    private final int ordinal;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final String name;
    private final int computeCapability;
    private final int multiprocessors;
    private final int maxSharedOptIn;
    private final long totalMemory;
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);
    private boolean closed;

    private CudaDevice(CudaDriver driver, int ordinal) {
        this.driver = driver;
        this.ordinal = ordinal;
        int count = driver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaException("CUDA device " + ordinal + " does not exist: the driver (" + driver.loadedFrom()
                    + ") sees " + count + " device" + (count == 1 ? "" : "s"));
        }
        device = driver.device(ordinal);
        name = driver.deviceName(device);
        computeCapability = 10 * driver.attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                + driver.attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        multiprocessors = driver.attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        maxSharedOptIn = driver.attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        totalMemory = driver.totalMemory(device);
        context = driver.retainPrimaryContext(device);
        bind();
        stream = driver.createStream();
    }

    /**
     * Opens GPU {@code ordinal}.
     *
     * @throws CudaLibraryNotFoundException without a driver; {@link CudaCallException} when the driver finds no
     *                                      device (CUDA_ERROR_NO_DEVICE) or cannot start
     */
    public static CudaDevice open(int ordinal) {
        return new CudaDevice(CudaDriver.get(), ordinal);
    }

    /** GPU {@code ordinal} of a given driver (tests). */
    static CudaDevice open(CudaDriver driver, int ordinal) {
        return new CudaDevice(driver, ordinal);
    }

    /** Makes this device's context current on the calling thread (once per thread). */
    public void bind() {
        if (closed) {
            throw new IllegalStateException("CUDA device " + ordinal + " (" + name + ") is closed");
        }
        if (!current.get()) {
            driver.setCurrent(context);
            current.set(true);
        }
    }

    public CudaDriver driver() {
        return driver;
    }

    public MemorySegment stream() {
        return stream;
    }

    public String name() {
        return name;
    }

    /** major·10 + minor, e.g. 90 for an H100. */
    public int computeCapability() {
        return computeCapability;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    /** The most shared memory one block may opt in to, in bytes. */
    public int maxSharedMemoryOptIn() {
        return maxSharedOptIn;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** A line for logs: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB), driver 13.0". */
    public String describe() {
        int v = driver.driverVersion();
        return String.format(java.util.Locale.ROOT, "%s (sm_%d, %d SMs, %.1f GiB), driver %d.%d", name, computeCapability,
                multiprocessors, totalMemory / (1024.0 * 1024 * 1024), v / 1000, (v % 1000) / 10);
    }

    // ---------------------------------------------------------------- memory
    //
    // Uploads are queued on this device's stream: it is non-blocking, so it would not wait for a synchronous
    // copy (issued on the legacy stream) and a kernel could read memory still in flight. From pageable host
    // memory the driver stages the data before returning, so the host buffer may be freed at once.

    /** Device memory of {@code bytes}; {@code what} names it in errors. */
    public DeviceBuffer allocate(long bytes, String what) {
        bind();
        return new DeviceBuffer(this, driver.malloc(Math.max(1, bytes), what), bytes);
    }

    public DeviceBuffer upload(float[] data, String what) {
        DeviceBuffer b = allocate(4L * data.length, what);
        try (Arena a = Arena.ofConfined()) {
            driver.copyToDeviceAsync(b.address(), a.allocateFrom(ValueLayout.JAVA_FLOAT, data), 4L * data.length, stream);
        }
        return b;
    }

    public DeviceBuffer upload(short[] data, String what) {
        DeviceBuffer b = allocate(2L * data.length, what);
        try (Arena a = Arena.ofConfined()) {
            driver.copyToDeviceAsync(b.address(), a.allocateFrom(ValueLayout.JAVA_SHORT, data), 2L * data.length, stream);
        }
        return b;
    }

    public DeviceBuffer upload(byte[] data, String what) {
        DeviceBuffer b = allocate(data.length, what);
        try (Arena a = Arena.ofConfined()) {
            driver.copyToDeviceAsync(b.address(), a.allocateFrom(ValueLayout.JAVA_BYTE, data), data.length, stream);
        }
        return b;
    }

    /** Copies a host segment (e.g. a memory-mapped weight, stored dtype) to new device memory, queued on the stream. */
    public DeviceBuffer upload(MemorySegment host, String what) {
        DeviceBuffer b = allocate(host.byteSize(), what);
        if (host.isNative()) {
            driver.copyToDeviceAsync(b.address(), host, host.byteSize(), stream);
        } else {
            // A heap segment (a weight built in memory) cannot be handed to native code: copy it off-heap first.
            try (Arena a = Arena.ofConfined()) {
                MemorySegment off = a.allocate(host.byteSize(), 16);
                off.copyFrom(host);
                driver.copyToDeviceAsync(b.address(), off, host.byteSize(), stream);
            }
        }
        return b;
    }

    /** Waits for the stream, then copies {@code count} floats from device address {@code src}. */
    public float[] downloadFloats(long src, int count) {
        bind();
        synchronize("reading results back");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, count));
            driver.copyToHost(host, src, 4L * count);
            return host.asSlice(0, 4L * count).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    public short[] downloadShorts(long src, int count) {
        bind();
        synchronize("reading results back");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_SHORT, Math.max(1, count));
            driver.copyToHost(host, src, 2L * count);
            return host.asSlice(0, 2L * count).toArray(ValueLayout.JAVA_SHORT);
        }
    }

    /** Waits for everything queued; asynchronous kernel errors surface here, named with {@code attempt}. */
    public void synchronize(String attempt) {
        bind();
        driver.synchronize(stream, attempt);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        bind();
        driver.synchronize(stream, "finishing work before closing the device");
        driver.destroyStream(stream);
        closed = true;
        driver.releasePrimaryContext(device);
    }
}
