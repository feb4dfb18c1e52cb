package io.github.zimage4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC, the run-time CUDA C++ compiler ({@code libnvrtc.so.13}), through FFM. It needs no GPU: the
 * kernels are compiled for a named architecture, so this class is tested on machines without one.
 *
 * <p>Why compile at run time rather than ship nvcc-built PTX or a fatbin: the build then needs no CUDA
 * toolkit, the jar carries only source, and each device gets machine code for exactly its architecture
 * ({@code -arch=sm_XY} from its compute capability) instead of PTX that the driver JIT-compiles on every
 * start, or a fatbin of every architecture. The cost is NVRTC (about 100 MB) on the GPU machine, which
 * every CUDA toolkit and the {@code nvidia-cuda-nvrtc} wheel provide, and a compile of a few seconds the
 * first time in a process.
 */
public final class Nvrtc {

    static final int NVRTC_SUCCESS = 0;
    static final int NVRTC_ERROR_COMPILATION = 6;

    static final Fn VERSION = Fn.of("nvrtcVersion", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_ERROR_STRING = Fn.of("nvrtcGetErrorString", ADDRESS, JAVA_INT);
    static final Fn GET_NUM_SUPPORTED_ARCHS = Fn.of("nvrtcGetNumSupportedArchs", JAVA_INT, ADDRESS);
    static final Fn GET_SUPPORTED_ARCHS = Fn.of("nvrtcGetSupportedArchs", JAVA_INT, ADDRESS);
    static final Fn CREATE_PROGRAM = Fn.of("nvrtcCreateProgram", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    static final Fn DESTROY_PROGRAM = Fn.of("nvrtcDestroyProgram", JAVA_INT, ADDRESS);
    static final Fn COMPILE_PROGRAM = Fn.of("nvrtcCompileProgram", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    static final Fn GET_PROGRAM_LOG_SIZE = Fn.of("nvrtcGetProgramLogSize", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_PROGRAM_LOG = Fn.of("nvrtcGetProgramLog", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_CUBIN_SIZE = Fn.of("nvrtcGetCUBINSize", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_CUBIN = Fn.of("nvrtcGetCUBIN", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_PTX_SIZE = Fn.of("nvrtcGetPTXSize", JAVA_INT, ADDRESS, ADDRESS);
    static final Fn GET_PTX = Fn.of("nvrtcGetPTX", JAVA_INT, ADDRESS, ADDRESS);

    static final List<Fn> FUNCTIONS = List.of(VERSION, GET_ERROR_STRING, GET_NUM_SUPPORTED_ARCHS, GET_SUPPORTED_ARCHS,
            CREATE_PROGRAM, DESTROY_PROGRAM, COMPILE_PROGRAM, GET_PROGRAM_LOG_SIZE, GET_PROGRAM_LOG, GET_CUBIN_SIZE, GET_CUBIN,
            GET_PTX_SIZE, GET_PTX);

    private static volatile Nvrtc instance;

    private final LibraryLocator.Loaded library;
    private final MethodHandle version, getErrorString, getNumSupportedArchs, getSupportedArchs, createProgram,
            destroyProgram, compileProgram, getProgramLogSize, getProgramLog, getCubinSize, getCubin, getPtxSize, getPtx;

    private Nvrtc(LibraryLocator.Loaded lib) {
        library = lib;
        version = VERSION.bind(lib);
        getErrorString = GET_ERROR_STRING.bind(lib);
        getNumSupportedArchs = GET_NUM_SUPPORTED_ARCHS.bind(lib);
        getSupportedArchs = GET_SUPPORTED_ARCHS.bind(lib);
        createProgram = CREATE_PROGRAM.bind(lib);
        destroyProgram = DESTROY_PROGRAM.bind(lib);
        compileProgram = COMPILE_PROGRAM.bind(lib);
        getProgramLogSize = GET_PROGRAM_LOG_SIZE.bind(lib);
        getProgramLog = GET_PROGRAM_LOG.bind(lib);
        getCubinSize = GET_CUBIN_SIZE.bind(lib);
        getCubin = GET_CUBIN.bind(lib);
        getPtxSize = GET_PTX_SIZE.bind(lib);
        getPtx = GET_PTX.bind(lib);
    }

    /** NVRTC of this machine, loaded once. */
    public static Nvrtc get() {
        Nvrtc n = instance;
        if (n == null) {
            synchronized (Nvrtc.class) {
                n = instance;
                if (n == null) {
                    n = load(LibraryLocator.system());
                    instance = n;
                }
            }
        }
        return n;
    }

    /** NVRTC as found by {@code locator} (tests). */
    static Nvrtc load(LibraryLocator locator) {
        return new Nvrtc(locator.load(CudaLibrary.NVRTC));
    }

    public String loadedFrom() {
        return library.from().target();
    }

    /** The compiled image of one program: CUBIN for a real architecture, PTX for a virtual one. */
    public record Compiled(byte[] image, boolean cubin, String arch, String log) {
    }

    /** {major, minor}, e.g. {13, 0}. */
    public int[] version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT);
            MemorySegment minor = a.allocate(JAVA_INT);
            check(call(() -> (int) version.invokeExact(major, minor)), "nvrtcVersion", "reading the NVRTC version");
            return new int[] {major.get(JAVA_INT, 0), minor.get(JAVA_INT, 0)};
        }
    }

    /** The SM versions this NVRTC can emit machine code for, e.g. [75, 80, 86, …, 120]. */
    public int[] supportedArchs() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            check(call(() -> (int) getNumSupportedArchs.invokeExact(n)), "nvrtcGetNumSupportedArchs", "listing NVRTC's architectures");
            MemorySegment archs = a.allocate(JAVA_INT, Math.max(1, n.get(JAVA_INT, 0)));
            check(call(() -> (int) getSupportedArchs.invokeExact(archs)), "nvrtcGetSupportedArchs", "listing NVRTC's architectures");
            return archs.asSlice(0, 4L * n.get(JAVA_INT, 0)).toArray(JAVA_INT);
        }
    }

    /**
     * The {@code -arch} option for a device of compute capability {@code sm} (major·10 + minor): machine
     * code ({@code sm_XY}) when NVRTC supports it, else PTX of the newest older architecture it knows
     * ({@code compute_XY}), which the driver compiles for the device when loading.
     */
    public String archFor(int sm) {
        int best = -1;
        for (int a : supportedArchs()) {
            if (a == sm) {
                return "sm_" + sm;
            }
            if (a < sm && a > best) {
                best = a;
            }
        }
        if (best < 0) {
            throw new CudaException("NVRTC " + version()[0] + "." + version()[1] + " at " + loadedFrom()
                    + " cannot compile for compute capability " + sm / 10 + "." + sm % 10 + ": it supports "
                    + java.util.Arrays.toString(supportedArchs()));
        }
        return "compute_" + best;
    }

    /**
     * Compiles one CUDA C++ source.
     *
     * @param source  the program text
     * @param name    its file name, used in diagnostics
     * @param headers include name → text, for {@code #include "name"} in the source
     * @param options compiler options; {@code -arch=sm_XY} gives CUBIN, {@code -arch=compute_XY} PTX
     * @throws CudaCallException with NVRTC's log when the source does not compile
     */
    public Compiled compile(String source, String name, Map<String, String> headers, List<String> options) {
        String arch = options.stream().filter(o -> o.startsWith("-arch=") || o.startsWith("--gpu-architecture="))
                .map(o -> o.substring(o.indexOf('=') + 1)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("compiling " + name + " needs an -arch= option"));
        boolean cubin = arch.startsWith("sm_");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment progOut = a.allocate(ADDRESS);
            List<String> headerNames = new ArrayList<>(headers.keySet());
            MemorySegment headerTexts = a.allocate(ADDRESS, Math.max(1, headerNames.size()));
            MemorySegment includeNames = a.allocate(ADDRESS, Math.max(1, headerNames.size()));
            for (int i = 0; i < headerNames.size(); i++) {
                headerTexts.setAtIndex(ADDRESS, i, a.allocateFrom(headers.get(headerNames.get(i))));
                includeNames.setAtIndex(ADDRESS, i, a.allocateFrom(headerNames.get(i)));
            }
            MemorySegment src = a.allocateFrom(source);
            MemorySegment srcName = a.allocateFrom(name);
            int nh = headerNames.size();
            check(call(() -> (int) createProgram.invokeExact(progOut, src, srcName, nh, headerTexts, includeNames)),
                    "nvrtcCreateProgram", "creating the NVRTC program " + name);
            MemorySegment prog = progOut.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
                }
                int no = options.size();
                int rc = call(() -> (int) compileProgram.invokeExact(prog, no, opts));
                String log = log(a, prog);
                if (rc != NVRTC_SUCCESS) {
                    throw new CudaCallException("nvrtcCompileProgram", rc, errorString(rc),
                            "compiling " + name + " for " + arch + " failed with " + errorString(rc) + " (" + rc + ")"
                                    + " using NVRTC at " + loadedFrom() + "; options " + options + "\n" + log.strip());
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check(call(() -> cubin ? (int) getCubinSize.invokeExact(prog, size) : (int) getPtxSize.invokeExact(prog, size)),
                        cubin ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize", "reading the size of " + name + "'s image");
                long n = size.get(JAVA_LONG, 0);
                MemorySegment image = a.allocate(Math.max(1, n));
                check(call(() -> cubin ? (int) getCubin.invokeExact(prog, image) : (int) getPtx.invokeExact(prog, image)),
                        cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX", "reading " + name + "'s image");
                return new Compiled(image.asSlice(0, n).toArray(JAVA_BYTE), cubin, arch, log);
            } finally {
                call(() -> (int) destroyProgram.invokeExact(progOut));
            }
        }
    }

    private String log(Arena a, MemorySegment prog) {
        MemorySegment size = a.allocate(JAVA_LONG);
        if (call(() -> (int) getProgramLogSize.invokeExact(prog, size)) != NVRTC_SUCCESS) {
            return "";
        }
        long n = size.get(JAVA_LONG, 0);
        if (n <= 1) {
            return "";
        }
        MemorySegment text = a.allocate(n);
        if (call(() -> (int) getProgramLog.invokeExact(prog, text)) != NVRTC_SUCCESS) {
            return "";
        }
        return text.getString(0);
    }

    /** NVRTC's name for a result code, e.g. {@code NVRTC_ERROR_COMPILATION}. */
    public String errorString(int rc) {
        try {
            MemorySegment s = (MemorySegment) getErrorString.invokeExact(rc);
            return s.equals(MemorySegment.NULL) ? "nvrtcResult " + rc : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "nvrtcResult " + rc;
        }
    }

    @FunctionalInterface
    private interface Call {
        int run() throws Throwable;
    }

    private static int call(Call c) {
        try {
            return c.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("an NVRTC call could not be made: " + t, t);
        }
    }

    private void check(int rc, String function, String attempt) {
        if (rc != NVRTC_SUCCESS) {
            throw new CudaCallException(function, rc, errorString(rc), null, attempt);
        }
    }
}
