package io.github.zimage4j.cuda;

import io.github.zimage4j.kernels.Conv2d;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device-side Java code against a stand-in libcuda.so.1 (fake_libcuda.c, built here with the host
 * compiler): every driver wrapper is called through its FFM handle (a wrong call shape fails with a
 * WrongMethodTypeException), memory round-trips, out-of-memory reports, and the kernels compile with the
 * real NVRTC and are launched with argument arrays (the fake counts launches, it runs nothing).
 */
class FakeDriverTest {

    @TempDir
    static Path root;

    static CudaDriver driver;
    static CudaDevice device;
    static MethodHandle launches;
    static MethodHandle last;

    @BeforeAll
    static void build() throws Exception {
        CudaToolchain.requireNvcc();
        Path src = root.resolve("fake_libcuda.c");
        try (InputStream in = FakeDriverTest.class.getResourceAsStream("fake_libcuda.c")) {
            Files.write(src, in.readAllBytes());
        }
        Path lib = Files.createDirectories(root.resolve("usr/lib/x86_64-linux-gnu")).resolve("libcuda.so.1");
        CudaToolchain.Result r = CudaToolchain.run(List.of("cc", "-shared", "-fPIC", "-O1", "-o", lib.toString(), src.toString()),
                root, 120);
        assertEquals(0, r.exit(), r.output());
        driver = CudaDriver.load(new LibraryLocator(Map.of(), root, root, false));
        device = CudaDevice.open(driver, 0);
        SymbolLookup fake = SymbolLookup.libraryLookup(lib, Arena.global());
        launches = Linker.nativeLinker().downcallHandle(fake.find("fake_launches").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
        last = Linker.nativeLinker().downcallHandle(fake.find("fake_last").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    static int launches() throws Throwable {
        return (int) launches.invokeExact();
    }

    static int last(int i) throws Throwable {
        return (int) last.invokeExact(i);
    }

    @Test
    void describesTheDevice() {
        assertEquals("Fake GPU (sm_90, 132 SMs, 1.0 GiB), driver 13.0", device.describe());
        assertEquals(232448, device.maxSharedMemoryOptIn());
        assertTrue(driver.loadedFrom().endsWith("usr/lib/x86_64-linux-gnu/libcuda.so.1"), driver.loadedFrom());
    }

    @Test
    void memoryRoundTrips() {
        float[] f = {1f, -2.5f, Float.NaN, 7f};
        short[] s = {1, -2, 3};
        try (DeviceBuffer a = device.upload(f, "floats"); DeviceBuffer b = device.allocate(16, "copy");
             DeviceBuffer c = device.upload(s, "shorts");
             DeviceBuffer d = device.upload(java.lang.foreign.MemorySegment.ofArray(new byte[] {1, 2, 3, 4}), "heap bytes")) {
            driver.copyOnDeviceAsync(b.address(), a.address(), 16, device.stream());
            assertArrayEquals(f, device.downloadFloats(b.address(), 4));
            driver.copyOnDevice(b.address(), d.address(), 4);
            assertEquals(Float.intBitsToFloat(0x04030201), device.downloadFloats(b.address(), 1)[0]);
            driver.zeroAsync(b.address(), 8, device.stream());
            assertArrayEquals(new float[] {0f, 0f, Float.NaN, 7f}, device.downloadFloats(b.address(), 4));
            assertArrayEquals(s, device.downloadShorts(c.address(), 3));
        }
    }

    @Test
    void outOfMemoryNamesTheRequestAndTheFreeMemory() {
        CudaOutOfMemoryException e = assertThrows(CudaOutOfMemoryException.class,
                () -> device.allocate(3L << 30, "the VAE decoder's activations"));
        assertTrue(e.getMessage().startsWith("allocating the VAE decoder's activations: out of GPU memory: cuMemAlloc_v2 of "
                + "3072.0 MiB (3221225472 bytes) failed with CUDA_ERROR_OUT_OF_MEMORY; the device had "), e.getMessage());
        assertEquals(1L << 30, e.totalBytes());
        assertTrue(e.freeBytes() > 0 && e.freeBytes() <= 1L << 30);
    }

    @Test
    void eventsTime() {
        var start = driver.createEvent();
        var end = driver.createEvent();
        driver.record(start, device.stream());
        driver.record(end, device.stream());
        assertEquals(1.5f, driver.elapsedMillis(start, end));
        driver.destroyEvent(start);
        driver.destroyEvent(end);
    }

    @Test
    void kernelsCompileForTheDevicesArchAndLaunch() throws Throwable {
        try (CudaKernels k = CudaKernels.load(device, Nvrtc.get()); DeviceBuffer buf = device.allocate(1 << 20, "scratch")) {
            assertEquals("sm_90", k.arch());
            long p = buf.address();
            int before = launches();
            k.silu(p, 1000);
            k.swiglu(p, p, 1000);
            k.add(p, p, 1000);
            k.f32ToBf16(p, p, 1000);
            k.bf16ToF32(p, p, 1000);
            k.eulerStep(p, p, p, -0.1f, 1000);
            k.scaleNoise(p, p, p, 0.5f, 1000);
            k.timestepEmbedding(p, p, 2, 256, 1000f);
            k.rmsNorm(p, 4, 3840, p, 1e-6f, 0, p);
            assertEquals(4, last(0));
            assertEquals(512, last(3));
            k.addRmsNormed(p, p, 4, 128, p, 1e-6f, p);
            k.layerNorm(p, 4, 128, 1e-6f, p, p);
            k.ropeInterleaved(p, 4, 384, 3, 128, p, p, 0);
            k.ropeRotateHalf(p, 4, 384, 3, 128, p, p, 0);
            k.im2col(true, p, 8, 8, 16, 3, 3, Conv2d.Geometry.upsampled(3), 0, 64, p);
            assertEquals(before + 14, launches());
            k.groupNorm(p, 100, 64, 32, p, p, 1e-6f, true, p);
            assertEquals(before + 19, launches(), "GroupNorm is five launches");
            assertEquals((100 * 64 + 255) / 256, last(0), "the last of them, gn_apply, covers every element");
        }
    }

    @Test
    void attentionPicksTensorCoresOrTheSimtKernel() throws Throwable {
        try (CudaKernels k = CudaKernels.load(device, Nvrtc.get()); DeviceBuffer buf = device.allocate(1 << 20, "qkv")) {
            long p = buf.address();
            k.attention(p, 384, p + 256, 384, p + 512, 384, p, 128, 100, 100, 1, 1, 128, 0.1f, false, 0);
            assertEquals(2, last(0), "64 query rows per tensor-core block");
            assertEquals(128, last(3));
            assertEquals(0, last(6));
            k.attention(p, 1536, p + 1024, 1536, p + 2048, 1536, p, 512, 50, 50, 1, 1, 512, 0.04f, false, 0);
            assertEquals(4, last(0), "16 query rows per SIMT block");
            assertEquals(256, last(3));
            assertEquals(16 * 512 * 4 + 2 * 32 * 514 * 2, last(6), "beyond 48 KiB: opted in");
            assertThrows(IllegalArgumentException.class,
                    () -> k.attention(p, 1026, p, 1026, p, 1026, p, 1026, 4, 4, 1, 1, 1026, 0.1f, false, 0));
        }
    }
}
