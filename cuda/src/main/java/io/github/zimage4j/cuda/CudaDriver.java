package io.github.zimage4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA driver API ({@code libcuda.so.1}) through FFM: the calls a backend needs to pick a device, own
 * its primary context, move memory, load compiled kernels and launch them on a stream. Symbols are the
 * ones {@code cuda.h} of CUDA 13 maps the API names to ({@code cuMemAlloc} → {@code cuMemAlloc_v2}), checked
 * by {@code CudaHeaderBindingsTest}. Handles (CUcontext, CUstream, CUmodule, CUfunction, CUevent) are
 * MemorySegments; device pointers ({@code CUdeviceptr}, 64-bit) are longs.
 *
 * <p>Every failing call throws {@link CudaCallException} with the CUresult's name and what was being
 * attempted; a failed allocation throws {@link CudaOutOfMemoryException} with the requested size and the
 * device's free and total memory.
 */
public final class CudaDriver {

    // CUresult values (cuda.h, enum cudaError_enum).
    static final int CUDA_SUCCESS = 0;
    static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    static final int CUDA_ERROR_NO_DEVICE = 100;
    // CUdevice_attribute values (cuda.h).
    static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    // CUfunction_attribute (cuda.h): opt-in to more than 48 KiB of dynamic shared memory.
    static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    // CUstream_flags (cuda.h).
    static final int CU_STREAM_NON_BLOCKING = 1;
    // CUevent_flags (cuda.h).
    static final int CU_EVENT_DEFAULT = 0;

    static final Fn INIT = Fn.of("cuInit", JAVA_INT, JAVA_INT);
    static final Fn DRIVER_GET_VERSION = Fn.of("cuDriverGetVersion", JAVA_INT, ADDRESS);
    static final Fn GET_ERROR_NAME = Fn.of("cuGetErrorName", JAVA_INT, JAVA_INT, ADDRESS);
    static final Fn GET_ERROR_STRING = Fn.of("cuGetErrorString", JAVA_INT, JAVA_INT, ADDRESS);
    static final Fn DEVICE_GET_COUNT = Fn.of("cuDeviceGetCount", JAVA_INT, ADDRESS);
    static final Fn DEVICE_GET = Fn.of("cuDeviceGet", JAVA_INT, ADDRESS, JAVA_INT);
    static final Fn DEVICE_GET_NAME = Fn.of("cuDeviceGetName", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    static final Fn DEVICE_GET_ATTRIBUTE = Fn.of("cuDeviceGetAttribute", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    static final Fn DEVICE_TOTAL_MEM = Fn.of("cuDeviceTotalMem_v2", JAVA_INT, ADDRESS, JAVA_INT);
    static final Fn PRIMARY_CTX_RETAIN = Fn.of("cuDevicePrimaryCtxRetain", JAVA_INT, ADDRESS, JAVA_INT);
    static final Fn PRIMARY_CTX_RELEASE = Fn.of("cuDevicePrimaryCtxRelease_v2", JAVA_INT, JAVA_INT);
    static final Fn CTX_SET_CURRENT = Fn.of("cuCtxSetCurrent", JAVA_INT, ADDRESS);
    static final Fn CTX_SYNCHRONIZE = Fn.of("cuCtxSynchronize", JAVA_INT);
    static final Fn MEM_GET_INFO = Fn.of("cuMemGetInfo_v2", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn MEM_ALLOC = Fn.of("cuMemAlloc_v2", JAVA_INT, ADDRESS, JAVA_LONG);
    static final Fn MEM_FREE = Fn.of("cuMemFree_v2", JAVA_INT, JAVA_LONG);
    static final Fn MEMCPY_HTOD = Fn.of("cuMemcpyHtoD_v2", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG);
    static final Fn MEMCPY_DTOH = Fn.of("cuMemcpyDtoH_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG);
    static final Fn MEMCPY_DTOD = Fn.of("cuMemcpyDtoD_v2", JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final Fn MEMCPY_HTOD_ASYNC = Fn.of("cuMemcpyHtoDAsync_v2", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
    static final Fn MEMCPY_DTOH_ASYNC = Fn.of("cuMemcpyDtoHAsync_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    static final Fn MEMCPY_DTOD_ASYNC = Fn.of("cuMemcpyDtoDAsync_v2", JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
    static final Fn MEMSET_D8_ASYNC = Fn.of("cuMemsetD8Async", JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS);
    static final Fn STREAM_CREATE = Fn.of("cuStreamCreate", JAVA_INT, ADDRESS, JAVA_INT);
    static final Fn STREAM_DESTROY = Fn.of("cuStreamDestroy_v2", JAVA_INT, ADDRESS);
    static final Fn STREAM_SYNCHRONIZE = Fn.of("cuStreamSynchronize", JAVA_INT, ADDRESS);
    static final Fn EVENT_CREATE = Fn.of("cuEventCreate", JAVA_INT, ADDRESS, JAVA_INT);
    static final Fn EVENT_RECORD = Fn.of("cuEventRecord", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn EVENT_SYNCHRONIZE = Fn.of("cuEventSynchronize", JAVA_INT, ADDRESS);
    static final Fn EVENT_ELAPSED_TIME = Fn.of("cuEventElapsedTime_v2", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    static final Fn EVENT_DESTROY = Fn.of("cuEventDestroy_v2", JAVA_INT, ADDRESS);
    static final Fn MODULE_LOAD_DATA = Fn.of("cuModuleLoadData", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn MODULE_UNLOAD = Fn.of("cuModuleUnload", JAVA_INT, ADDRESS);
    static final Fn MODULE_GET_FUNCTION = Fn.of("cuModuleGetFunction", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    static final Fn FUNC_SET_ATTRIBUTE = Fn.of("cuFuncSetAttribute", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    static final Fn LAUNCH_KERNEL = Fn.of("cuLaunchKernel", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);

    /** Every binding, for the header check. */
    static final List<Fn> FUNCTIONS = List.of(INIT, DRIVER_GET_VERSION, GET_ERROR_NAME, GET_ERROR_STRING, DEVICE_GET_COUNT,
            DEVICE_GET, DEVICE_GET_NAME, DEVICE_GET_ATTRIBUTE, DEVICE_TOTAL_MEM, PRIMARY_CTX_RETAIN, PRIMARY_CTX_RELEASE,
            CTX_SET_CURRENT, CTX_SYNCHRONIZE, MEM_GET_INFO, MEM_ALLOC, MEM_FREE, MEMCPY_HTOD, MEMCPY_DTOH, MEMCPY_DTOD,
            MEMCPY_HTOD_ASYNC, MEMCPY_DTOH_ASYNC, MEMCPY_DTOD_ASYNC, MEMSET_D8_ASYNC, STREAM_CREATE, STREAM_DESTROY,
            STREAM_SYNCHRONIZE, EVENT_CREATE, EVENT_RECORD, EVENT_SYNCHRONIZE, EVENT_ELAPSED_TIME, EVENT_DESTROY,
            MODULE_LOAD_DATA, MODULE_UNLOAD, MODULE_GET_FUNCTION, FUNC_SET_ATTRIBUTE, LAUNCH_KERNEL);

    private static volatile CudaDriver instance;

    private final LibraryLocator.Loaded library;
    private final MethodHandle init, driverGetVersion, getErrorName, getErrorString, deviceGetCount, deviceGet,
            deviceGetName, deviceGetAttribute, deviceTotalMem, primaryCtxRetain, primaryCtxRelease, ctxSetCurrent,
            ctxSynchronize, memGetInfo, memAlloc, memFree, memcpyHtoD, memcpyDtoH, memcpyDtoD, memcpyHtoDAsync,
            memcpyDtoHAsync, memcpyDtoDAsync, memsetD8Async, streamCreate, streamDestroy, streamSynchronize, eventCreate,
            eventRecord, eventSynchronize, eventElapsedTime, eventDestroy, moduleLoadData, moduleUnload, moduleGetFunction,
            funcSetAttribute, launchKernel;

    private CudaDriver(LibraryLocator.Loaded lib) {
        library = lib;
        init = INIT.bind(lib);
        driverGetVersion = DRIVER_GET_VERSION.bind(lib);
        getErrorName = GET_ERROR_NAME.bind(lib);
        getErrorString = GET_ERROR_STRING.bind(lib);
        deviceGetCount = DEVICE_GET_COUNT.bind(lib);
        deviceGet = DEVICE_GET.bind(lib);
        deviceGetName = DEVICE_GET_NAME.bind(lib);
        deviceGetAttribute = DEVICE_GET_ATTRIBUTE.bind(lib);
        deviceTotalMem = DEVICE_TOTAL_MEM.bind(lib);
        primaryCtxRetain = PRIMARY_CTX_RETAIN.bind(lib);
        primaryCtxRelease = PRIMARY_CTX_RELEASE.bind(lib);
        ctxSetCurrent = CTX_SET_CURRENT.bind(lib);
        ctxSynchronize = CTX_SYNCHRONIZE.bind(lib);
        memGetInfo = MEM_GET_INFO.bind(lib);
        memAlloc = MEM_ALLOC.bind(lib);
        memFree = MEM_FREE.bind(lib);
        memcpyHtoD = MEMCPY_HTOD.bind(lib);
        memcpyDtoH = MEMCPY_DTOH.bind(lib);
        memcpyDtoD = MEMCPY_DTOD.bind(lib);
        memcpyHtoDAsync = MEMCPY_HTOD_ASYNC.bind(lib);
        memcpyDtoHAsync = MEMCPY_DTOH_ASYNC.bind(lib);
        memcpyDtoDAsync = MEMCPY_DTOD_ASYNC.bind(lib);
        memsetD8Async = MEMSET_D8_ASYNC.bind(lib);
        streamCreate = STREAM_CREATE.bind(lib);
        streamDestroy = STREAM_DESTROY.bind(lib);
        streamSynchronize = STREAM_SYNCHRONIZE.bind(lib);
        eventCreate = EVENT_CREATE.bind(lib);
        eventRecord = EVENT_RECORD.bind(lib);
        eventSynchronize = EVENT_SYNCHRONIZE.bind(lib);
        eventElapsedTime = EVENT_ELAPSED_TIME.bind(lib);
        eventDestroy = EVENT_DESTROY.bind(lib);
        moduleLoadData = MODULE_LOAD_DATA.bind(lib);
        moduleUnload = MODULE_UNLOAD.bind(lib);
        moduleGetFunction = MODULE_GET_FUNCTION.bind(lib);
        funcSetAttribute = FUNC_SET_ATTRIBUTE.bind(lib);
        launchKernel = LAUNCH_KERNEL.bind(lib);
    }

    /**
     * The driver of this machine, loaded and initialized ({@code cuInit(0)}) once.
     *
     * @throws CudaLibraryNotFoundException when libcuda.so.1 is nowhere to be found
     * @throws CudaCallException            when cuInit fails (e.g. CUDA_ERROR_NO_DEVICE, a driver/kernel mismatch)
     */
    public static CudaDriver get() {
        CudaDriver d = instance;
        if (d == null) {
            synchronized (CudaDriver.class) {
                d = instance;
                if (d == null) {
                    instance = d = load(LibraryLocator.system());
                }
            }
        }
        return d;
    }

    /** A driver found by {@code locator}, initialized; not the process-wide one (tests). */
    static CudaDriver load(LibraryLocator locator) {
        CudaDriver d = new CudaDriver(locator.load(CudaLibrary.DRIVER));
        d.check(d.call(() -> (int) d.init.invokeExact(0)), "cuInit", "initializing the CUDA driver");
        return d;
    }

    /** Where libcuda was loaded from. */
    public String loadedFrom() {
        return library.from().target();
    }

    // ---------------------------------------------------------------- errors

    @FunctionalInterface
    interface Call {
        int run() throws Throwable;
    }

    int call(Call c) {
        try {
            return c.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("a CUDA driver call could not be made: " + t, t);
        }
    }

    void check(int result, String function, String attempt) {
        if (result != CUDA_SUCCESS) {
            throw new CudaCallException(function, result, errorName(result), errorString(result), attempt);
        }
    }

    /** The CUresult's name, e.g. {@code CUDA_ERROR_INVALID_VALUE}, or "CUresult N" for a code the driver does not know. */
    public String errorName(int result) {
        return errorText(getErrorName, result, "CUresult " + result);
    }

    /** The driver's description of a CUresult. */
    public String errorString(int result) {
        return errorText(getErrorString, result, "");
    }

    private static String errorText(MethodHandle h, int result, String fallback) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            int rc = (int) h.invokeExact(result, out);
            MemorySegment str = out.get(ADDRESS, 0);
            if (rc != CUDA_SUCCESS || str.equals(MemorySegment.NULL)) {
                return fallback;
            }
            return str.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            return fallback;
        }
    }

    // ---------------------------------------------------------------- devices and contexts

    /** The driver's CUDA version, e.g. 13000 for 13.0. */
    public int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) driverGetVersion.invokeExact(v)), "cuDriverGetVersion", "reading the driver version");
            return v.get(JAVA_INT, 0);
        }
    }

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) deviceGetCount.invokeExact(v)), "cuDeviceGetCount", "counting CUDA devices");
            return v.get(JAVA_INT, 0);
        }
    }

    /** The CUdevice handle of ordinal {@code ordinal}. */
    public int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) deviceGet.invokeExact(v, ordinal)), "cuDeviceGet", "opening CUDA device " + ordinal);
            return v.get(JAVA_INT, 0);
        }
    }

    public String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(256);
            check(call(() -> (int) deviceGetName.invokeExact(v, 256, device)), "cuDeviceGetName", "reading device " + device + "'s name");
            return v.getString(0);
        }
    }

    public int attribute(int device, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) deviceGetAttribute.invokeExact(v, attribute, device)), "cuDeviceGetAttribute",
                    "reading attribute " + attribute + " of device " + device);
            return v.get(JAVA_INT, 0);
        }
    }

    public long totalMemory(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check(call(() -> (int) deviceTotalMem.invokeExact(v, device)), "cuDeviceTotalMem_v2", "reading device " + device + "'s memory size");
            return v.get(JAVA_LONG, 0);
        }
    }

    /** Retains the device's primary context (the one the runtime API and cuBLASLt share). */
    public MemorySegment retainPrimaryContext(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) primaryCtxRetain.invokeExact(v, device)), "cuDevicePrimaryCtxRetain",
                    "retaining device " + device + "'s primary context");
            return v.get(ADDRESS, 0);
        }
    }

    public void releasePrimaryContext(int device) {
        check(call(() -> (int) primaryCtxRelease.invokeExact(device)), "cuDevicePrimaryCtxRelease_v2",
                "releasing device " + device + "'s primary context");
    }

    /** Makes {@code ctx} current on the calling thread (every thread that calls CUDA needs it). */
    public void setCurrent(MemorySegment ctx) {
        check(call(() -> (int) ctxSetCurrent.invokeExact(ctx)), "cuCtxSetCurrent", "making the CUDA context current");
    }

    public void synchronizeContext() {
        check(call(() -> (int) ctxSynchronize.invokeExact()), "cuCtxSynchronize", "waiting for the device");
    }

    /** {free, total} bytes of the current context's device. */
    public long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG);
            MemorySegment total = a.allocate(JAVA_LONG);
            check(call(() -> (int) memGetInfo.invokeExact(free, total)), "cuMemGetInfo_v2", "reading free device memory");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    // ---------------------------------------------------------------- memory

    /**
     * Allocates {@code bytes} of device memory.
     *
     * @param what what the memory is for, named in errors ("DiT block 3 weights")
     * @throws CudaOutOfMemoryException with the device's free and total memory when it does not fit
     */
    public long malloc(long bytes, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            int rc = call(() -> (int) memAlloc.invokeExact(v, bytes));
            if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
                long free = -1;
                long total = -1;
                try {
                    long[] info = memoryInfo();
                    free = info[0];
                    total = info[1];
                } catch (CudaException e) {
                    // Reported as unknown.
                }
                throw new CudaOutOfMemoryException("cuMemAlloc_v2", rc, errorName(rc), "allocating " + what, bytes, free, total);
            }
            check(rc, "cuMemAlloc_v2", "allocating " + CudaOutOfMemoryException.mib(bytes) + " for " + what);
            return v.get(JAVA_LONG, 0);
        }
    }

    public void free(long devicePtr) {
        check(call(() -> (int) memFree.invokeExact(devicePtr)), "cuMemFree_v2", "freeing device memory");
    }

    public void copyToDevice(long dst, MemorySegment src, long bytes) {
        check(call(() -> (int) memcpyHtoD.invokeExact(dst, src, bytes)), "cuMemcpyHtoD_v2", "copying " + bytes + " bytes to the device");
    }

    public void copyToHost(MemorySegment dst, long src, long bytes) {
        check(call(() -> (int) memcpyDtoH.invokeExact(dst, src, bytes)), "cuMemcpyDtoH_v2", "copying " + bytes + " bytes from the device");
    }

    public void copyOnDevice(long dst, long src, long bytes) {
        check(call(() -> (int) memcpyDtoD.invokeExact(dst, src, bytes)), "cuMemcpyDtoD_v2", "copying " + bytes + " bytes on the device");
    }

    /** Asynchronous on {@code stream}; {@code src} must stay valid (and should be pinned for overlap) until the stream syncs. */
    public void copyToDeviceAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        check(call(() -> (int) memcpyHtoDAsync.invokeExact(dst, src, bytes, stream)), "cuMemcpyHtoDAsync_v2",
                "queueing a copy of " + bytes + " bytes to the device");
    }

    public void copyToHostAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        check(call(() -> (int) memcpyDtoHAsync.invokeExact(dst, src, bytes, stream)), "cuMemcpyDtoHAsync_v2",
                "queueing a copy of " + bytes + " bytes from the device");
    }

    public void copyOnDeviceAsync(long dst, long src, long bytes, MemorySegment stream) {
        check(call(() -> (int) memcpyDtoDAsync.invokeExact(dst, src, bytes, stream)), "cuMemcpyDtoDAsync_v2",
                "queueing a copy of " + bytes + " bytes on the device");
    }

    public void zeroAsync(long dst, long bytes, MemorySegment stream) {
        check(call(() -> (int) memsetD8Async.invokeExact(dst, (byte) 0, bytes, stream)), "cuMemsetD8Async", "zeroing " + bytes + " device bytes");
    }

    // ---------------------------------------------------------------- streams and events

    public MemorySegment createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) streamCreate.invokeExact(v, CU_STREAM_NON_BLOCKING)), "cuStreamCreate", "creating a CUDA stream");
            return v.get(ADDRESS, 0);
        }
    }

    public void destroyStream(MemorySegment stream) {
        check(call(() -> (int) streamDestroy.invokeExact(stream)), "cuStreamDestroy_v2", "destroying a CUDA stream");
    }

    /** Waits for everything queued on {@code stream}; errors of earlier asynchronous work surface here. */
    public void synchronize(MemorySegment stream, String attempt) {
        check(call(() -> (int) streamSynchronize.invokeExact(stream)), "cuStreamSynchronize", attempt);
    }

    public MemorySegment createEvent() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) eventCreate.invokeExact(v, CU_EVENT_DEFAULT)), "cuEventCreate", "creating a CUDA event");
            return v.get(ADDRESS, 0);
        }
    }

    public void record(MemorySegment event, MemorySegment stream) {
        check(call(() -> (int) eventRecord.invokeExact(event, stream)), "cuEventRecord", "recording a CUDA event");
    }

    /** Milliseconds between two recorded events (waits for the second). */
    public float elapsedMillis(MemorySegment start, MemorySegment end) {
        check(call(() -> (int) eventSynchronize.invokeExact(end)), "cuEventSynchronize", "waiting for a CUDA event");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_FLOAT);
            check(call(() -> (int) eventElapsedTime.invokeExact(v, start, end)), "cuEventElapsedTime_v2", "timing on the device");
            return v.get(JAVA_FLOAT, 0);
        }
    }

    public void destroyEvent(MemorySegment event) {
        check(call(() -> (int) eventDestroy.invokeExact(event)), "cuEventDestroy_v2", "destroying a CUDA event");
    }

    // ---------------------------------------------------------------- modules and launches

    /** Loads a CUBIN (or NUL-terminated PTX) image into the current context. */
    public MemorySegment loadModule(MemorySegment image, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) moduleLoadData.invokeExact(v, image)), "cuModuleLoadData", "loading " + what);
            return v.get(ADDRESS, 0);
        }
    }

    public void unloadModule(MemorySegment module) {
        check(call(() -> (int) moduleUnload.invokeExact(module)), "cuModuleUnload", "unloading a CUDA module");
    }

    public MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            MemorySegment n = a.allocateFrom(name);
            check(call(() -> (int) moduleGetFunction.invokeExact(v, module, n)), "cuModuleGetFunction", "finding kernel " + name);
            return v.get(ADDRESS, 0);
        }
    }

    public void setFunctionAttribute(MemorySegment function, int attribute, int value, String attempt) {
        check(call(() -> (int) funcSetAttribute.invokeExact(function, attribute, value)), "cuFuncSetAttribute", attempt);
    }

    /**
     * Queues a kernel. {@code params} is the {@code void**} array of pointers to each argument's value.
     * Launch errors that the driver only finds at run time surface at the next synchronization.
     */
    public void launch(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                       int sharedBytes, MemorySegment stream, MemorySegment params, String kernel) {
        check(call(() -> (int) launchKernel.invokeExact(function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                stream, params, MemorySegment.NULL)), "cuLaunchKernel", "launching " + kernel + " on grid (" + gridX + ","
                + gridY + "," + gridZ + ") × block (" + blockX + "," + blockY + "," + blockZ + ")");
    }
}
