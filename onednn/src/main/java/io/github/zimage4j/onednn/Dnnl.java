package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.Parallel;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The oneDNN C API through FFM: the few calls matmuls, convolutions and reorders need. The native
 * libraries come from the {@code org.bytedeco:dnnl:linux-x86_64} jar on the class path; they are extracted
 * once to a cache folder and loaded with {@code dlopen} (libdnnl finds its bundled libgomp through RUNPATH $ORIGIN).
 *
 * <p>OpenMP is told, before it loads, to run as many threads as the Java pool and to sleep rather than
 * spin between calls, so native and Java threads never compete for the cores.
 */
final class Dnnl {

    static final String VERSION = "3.13-1.5.14";
    private static final String RESOURCE_DIR = "org/bytedeco/dnnl/linux-x86_64/";

    // Enum values of oneDNN 3.x (dnnl_common_types.h, dnnl_types.h).
    static final int F16 = 1;
    static final int BF16 = 2;
    static final int F32 = 3;
    static final int S32 = 4;
    static final int S8 = 5;
    static final int U8 = 6;
    static final int TAG_ANY = 1;
    static final int TAG_A = 2;
    static final int TAG_AB = 3;
    static final int TAG_BA = 14;
    static final int CPU = 1;
    static final int STREAM_DEFAULT = 1;
    static final int ARG_SRC = 1;
    static final int ARG_DST = 17;
    static final int ARG_WEIGHTS = 33;
    static final int ARG_BIAS = 41;
    static final int QUERY_IMPL_INFO_STR = 8;
    static final int QUERY_WEIGHTS_MD = 131;
    static final int QUERY_SCRATCHPAD_MD = 136;
    static final int ARG_SCRATCHPAD = 80;
    /** DNNL_ARG_ATTR_SCALES: or-ed with the argument the scales belong to. */
    static final int ARG_ATTR_SCALES = 4096;
    static final int SCRATCHPAD_MODE_USER = 1;
    // Reorders into the layouts primitives prefer (PackedWeights), convolutions (OneDnnConvolution).
    static final int TAG_ABCD = 5;  // oihw weights
    static final int TAG_ACDB = 22; // nhwc activations
    static final int FORWARD_INFERENCE = 96;
    static final int CONVOLUTION_DIRECT = 1;
    static final int ARG_FROM = 1;
    static final int ARG_TO = 17;

    private static volatile Dnnl instance;
    private static volatile String failure;

    final MethodHandle engineCreate;
    final MethodHandle streamCreate;
    final MethodHandle streamWait;
    final MethodHandle mdCreateWithTag;
    final MethodHandle mdCreateWithStrides;
    final MethodHandle mdDestroy;
    final MethodHandle matmulPdCreate;
    final MethodHandle pdQuery;
    final MethodHandle pdDestroy;
    final MethodHandle primitiveCreate;
    final MethodHandle primitiveExecute;
    final MethodHandle memoryCreate;
    final MethodHandle memorySetDataHandle;
    final MethodHandle effectiveCpuIsa;
    final MethodHandle attrCreate;
    final MethodHandle attrSetScratchpadMode;
    final MethodHandle attrDestroy;
    final MethodHandle attrSetScales;
    final MethodHandle pdQueryMd;
    final MethodHandle mdGetSize;
    final MethodHandle mdClone;
    final MethodHandle mdEqual;
    final MethodHandle convPdCreate;
    final MethodHandle reorderPdCreate;
    final MethodHandle primitiveDestroy;
    final MethodHandle memoryDestroy;
    /** OpenMP's per-thread team size: a Java pool thread that runs a primitive on its own sets it to 1. */
    final MethodHandle ompSetNumThreads;
    final MethodHandle ompGetMaxThreads;

    final MemorySegment engine;
    final MemorySegment stream;

    private Dnnl(SymbolLookup lib, SymbolLookup gomp) throws Throwable {
        Linker linker = Linker.nativeLinker();
        engineCreate = fn(linker, lib, "dnnl_engine_create", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG);
        streamCreate = fn(linker, lib, "dnnl_stream_create", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
        streamWait = fn(linker, lib, "dnnl_stream_wait", JAVA_INT, ADDRESS);
        mdCreateWithTag = fn(linker, lib, "dnnl_memory_desc_create_with_tag", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        mdCreateWithStrides = fn(linker, lib, "dnnl_memory_desc_create_with_strides", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
        mdDestroy = fn(linker, lib, "dnnl_memory_desc_destroy", JAVA_INT, ADDRESS);
        matmulPdCreate = fn(linker, lib, "dnnl_matmul_primitive_desc_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        pdQuery = fn(linker, lib, "dnnl_primitive_desc_query", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS);
        pdDestroy = fn(linker, lib, "dnnl_primitive_desc_destroy", JAVA_INT, ADDRESS);
        primitiveCreate = fn(linker, lib, "dnnl_primitive_create", JAVA_INT, ADDRESS, ADDRESS);
        primitiveExecute = fn(linker, lib, "dnnl_primitive_execute", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS);
        memoryCreate = fn(linker, lib, "dnnl_memory_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        memorySetDataHandle = fn(linker, lib, "dnnl_memory_set_data_handle", JAVA_INT, ADDRESS, ADDRESS);
        effectiveCpuIsa = fn(linker, lib, "dnnl_get_effective_cpu_isa", JAVA_INT);
        attrCreate = fn(linker, lib, "dnnl_primitive_attr_create", JAVA_INT, ADDRESS);
        attrSetScratchpadMode = fn(linker, lib, "dnnl_primitive_attr_set_scratchpad_mode", JAVA_INT, ADDRESS, JAVA_INT);
        attrDestroy = fn(linker, lib, "dnnl_primitive_attr_destroy", JAVA_INT, ADDRESS);
        attrSetScales = fn(linker, lib, "dnnl_primitive_attr_set_scales", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
        pdQueryMd = fn(linker, lib, "dnnl_primitive_desc_query_md", ADDRESS, ADDRESS, JAVA_INT, JAVA_INT);
        mdGetSize = fn(linker, lib, "dnnl_memory_desc_get_size", JAVA_LONG, ADDRESS);
        mdClone = fn(linker, lib, "dnnl_memory_desc_clone", JAVA_INT, ADDRESS, ADDRESS);
        mdEqual = fn(linker, lib, "dnnl_memory_desc_equal", JAVA_INT, ADDRESS, ADDRESS);
        convPdCreate = fn(linker, lib, "dnnl_convolution_forward_primitive_desc_create", JAVA_INT, ADDRESS, ADDRESS,
                JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        reorderPdCreate = fn(linker, lib, "dnnl_reorder_primitive_desc_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS);
        primitiveDestroy = fn(linker, lib, "dnnl_primitive_destroy", JAVA_INT, ADDRESS);
        memoryDestroy = fn(linker, lib, "dnnl_memory_destroy", JAVA_INT, ADDRESS);
        ompSetNumThreads = fn(linker, gomp, "omp_set_num_threads", null, JAVA_INT);
        ompGetMaxThreads = fn(linker, gomp, "omp_get_max_threads", JAVA_INT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) engineCreate.invokeExact(out, CPU, 0L), "dnnl_engine_create");
            engine = out.get(ADDRESS, 0);
            check((int) streamCreate.invokeExact(out, engine, STREAM_DEFAULT), "dnnl_stream_create");
            stream = out.get(ADDRESS, 0);
        }
    }

    private static MethodHandle fn(Linker linker, SymbolLookup lib, String name, ValueLayout ret, ValueLayout... args) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new IllegalStateException("no native symbol " + name));
        return linker.downcallHandle(sym, ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args));
    }

    static void check(int status, String call) {
        if (status != 0) {
            throw new IllegalStateException(call + " failed with oneDNN status " + status);
        }
    }

    /** The loaded library, or null when it cannot load here ({@link #failure()} says why). */
    static Dnnl get() {
        if (instance == null && failure == null) {
            synchronized (Dnnl.class) {
                if (instance == null && failure == null) {
                    try {
                        instance = load();
                    } catch (Throwable t) {
                        failure = t.getMessage() != null ? t.getMessage() : t.toString();
                    }
                }
            }
        }
        return instance;
    }

    static String failure() {
        get();
        return failure;
    }

    private static Dnnl load() throws Throwable {
        String os = System.getProperty("os.name", "").toLowerCase();
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new IllegalStateException("the bundled oneDNN is for linux-x86_64; this is " + os + "/" + arch);
        }
        Path dir = extract();
        int threads = Parallel.get().threads();
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        try (Arena a = Arena.ofConfined()) {
            // Read by libgomp when it loads: match the Java pool, and sleep when idle instead of spinning.
            int r1 = (int) setenv.invokeExact(a.allocateFrom("OMP_NUM_THREADS"), a.allocateFrom(Integer.toString(threads)), 1);
            int r2 = (int) setenv.invokeExact(a.allocateFrom("OMP_WAIT_POLICY"), a.allocateFrom("PASSIVE"), 0);
            int r3 = (int) setenv.invokeExact(a.allocateFrom("OMP_PROC_BIND"), a.allocateFrom("false"), 0);
            if (r1 != 0 || r2 != 0 || r3 != 0) {
                throw new IllegalStateException("could not set the OpenMP environment");
            }
        }
        SymbolLookup lib = SymbolLookup.libraryLookup(dir.resolve("libdnnl.so.3"), Arena.global());
        // The libgomp libdnnl has just loaded (same path, so dlopen returns the same handle).
        SymbolLookup gomp = SymbolLookup.libraryLookup(dir.resolve("libgomp.so.1"), Arena.global());
        return new Dnnl(lib, gomp);
    }

    /** Copies the native libraries out of the jar into the cache (once; atomic so parallel processes agree). */
    private static Path extract() throws IOException {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        Path dir = base.resolve("zimage4j").resolve("native").resolve("dnnl-" + VERSION);
        Files.createDirectories(dir);
        for (String lib : new String[]{"libgomp.so.1", "libdnnl.so.3"}) {
            Path target = dir.resolve(lib);
            try (InputStream in = Dnnl.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + lib)) {
                if (in == null) {
                    throw new IllegalStateException("the native library " + RESOURCE_DIR + lib
                            + " is not on the class path (add org.bytedeco:dnnl:" + VERSION + ":linux-x86_64)");
                }
                if (Files.exists(target)) {
                    continue;
                }
                Path tmp = Files.createTempFile(dir, lib, ".partial");
                try {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
        }
        return dir;
    }

    /** A new CPU stream: one per thread that executes primitives concurrently with others. */
    MemorySegment newStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check((int) streamCreate.invokeExact(out, engine, STREAM_DEFAULT), "dnnl_stream_create");
            return out.get(ADDRESS, 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("dnnl_stream_create failed", t);
        }
    }

    /** A 2-D memory descriptor. */
    MemorySegment md2(Arena a, long d0, long d1, int dtype, int tag) throws Throwable {
        MemorySegment dims = a.allocate(JAVA_LONG, 12);
        dims.setAtIndex(JAVA_LONG, 0, d0);
        dims.setAtIndex(JAVA_LONG, 1, d1);
        MemorySegment out = a.allocate(ADDRESS);
        check((int) mdCreateWithTag.invokeExact(out, 2, dims, dtype, tag), "dnnl_memory_desc_create_with_tag");
        return out.get(ADDRESS, 0);
    }

    /** A memory descriptor of any rank in a given format tag ({@link #TAG_ANY}: the primitive chooses). */
    MemorySegment mdTag(Arena a, long[] dims, int dtype, int tag) throws Throwable {
        MemorySegment d = a.allocate(JAVA_LONG, 12);
        for (int i = 0; i < dims.length; i++) {
            d.setAtIndex(JAVA_LONG, i, dims[i]);
        }
        MemorySegment out = a.allocate(ADDRESS);
        check((int) mdCreateWithTag.invokeExact(out, dims.length, d, dtype, tag), "dnnl_memory_desc_create_with_tag");
        return out.get(ADDRESS, 0);
    }

    /** A 4-D memory descriptor, dims in oneDNN's logical order (N, C, H, W or O, I, H, W). */
    MemorySegment md4(Arena a, long d0, long d1, long d2, long d3, int dtype, int tag) throws Throwable {
        MemorySegment dims = a.allocate(JAVA_LONG, 12);
        dims.setAtIndex(JAVA_LONG, 0, d0);
        dims.setAtIndex(JAVA_LONG, 1, d1);
        dims.setAtIndex(JAVA_LONG, 2, d2);
        dims.setAtIndex(JAVA_LONG, 3, d3);
        MemorySegment out = a.allocate(ADDRESS);
        check((int) mdCreateWithTag.invokeExact(out, 4, dims, dtype, tag), "dnnl_memory_desc_create_with_tag");
        return out.get(ADDRESS, 0);
    }

    /** A 1-D memory descriptor. */
    MemorySegment md1(Arena a, long d0, int dtype) throws Throwable {
        MemorySegment dims = a.allocate(JAVA_LONG, 12);
        dims.setAtIndex(JAVA_LONG, 0, d0);
        MemorySegment out = a.allocate(ADDRESS);
        check((int) mdCreateWithTag.invokeExact(out, 1, dims, dtype, TAG_A), "dnnl_memory_desc_create_with_tag");
        return out.get(ADDRESS, 0);
    }

    /** A memory descriptor of any rank with explicit strides (in elements). */
    MemorySegment mdStrided(Arena a, long[] dims, long[] strides, int dtype) throws Throwable {
        MemorySegment d = a.allocate(JAVA_LONG, 12);
        MemorySegment s = a.allocate(JAVA_LONG, 12);
        for (int i = 0; i < dims.length; i++) {
            d.setAtIndex(JAVA_LONG, i, dims[i]);
            s.setAtIndex(JAVA_LONG, i, strides[i]);
        }
        MemorySegment out = a.allocate(ADDRESS);
        check((int) mdCreateWithStrides.invokeExact(out, dims.length, d, dtype, s), "dnnl_memory_desc_create_with_strides");
        return out.get(ADDRESS, 0);
    }

    /** oneDNN's effective ISA code (dnnl_cpu_isa_t): 0xe7 = AVX512-BF16, 0xfef = AMX, … */
    int isa() throws Throwable {
        return (int) effectiveCpuIsa.invokeExact();
    }
}
