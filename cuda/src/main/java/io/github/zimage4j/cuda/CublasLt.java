package io.github.zimage4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt ({@code libcublasLt.so.13}) through FFM: the one operation the models need from it, a linear
 * layer {@code y = x·Wᵀ + bias} in row-major storage, with the weight kept as stored ({@code [out, in]}
 * in bf16, f16 or f32), float32 accumulation and a float32 output. Convolutions become the same product
 * after an im2col gather.
 *
 * <p>Row-major to cuBLAS's column-major: a row-major {@code [r, c]} matrix is a column-major
 * {@code [c, r]} one, so {@code Yᵀ (out × m) = W (in × out)ᵀ · Xᵀ (in × m)}: A = W with TRANSA = T,
 * B = X untransposed, D = Y with leading dimension {@code out}. The bias runs along D's rows, which is
 * exactly cuBLASLt's BIAS epilogue. No data is transposed.
 */
public final class CublasLt {

    // cublasStatus_t (cublas_api.h).
    static final int CUBLAS_STATUS_SUCCESS = 0;
    // cublasComputeType_t (cublas_api.h): float32 accumulation, no TF32 down-conversion.
    static final int CUBLAS_COMPUTE_32F = 68;
    // cudaDataType_t (library_types.h).
    static final int CUDA_R_32F = 0;
    static final int CUDA_R_16F = 2;
    static final int CUDA_R_16BF = 14;
    // cublasOperation_t (cublas_api.h).
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;
    // cublasLtMatmulDescAttributes_t (cublasLt.h).
    static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
    static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;
    static final int CUBLASLT_MATMUL_DESC_EPILOGUE = 7;
    static final int CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;
    // cublasLtEpilogue_t (cublasLt.h).
    static final int CUBLASLT_EPILOGUE_DEFAULT = 1;
    static final int CUBLASLT_EPILOGUE_BIAS = 4;
    // cublasLtMatmulPreferenceAttributes_t (cublasLt.h).
    static final int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (8 × uint64) + size_t workspaceSize + status + float + int[4]. */
    static final int HEURISTIC_RESULT_BYTES = 64 + 8 + 4 + 4 + 16;
    static final int HEURISTIC_WORKSPACE_OFFSET = 64;
    static final int HEURISTIC_STATE_OFFSET = 72;

    static final Fn CREATE = Fn.of("cublasLtCreate", JAVA_INT, ADDRESS);
    static final Fn DESTROY = Fn.of("cublasLtDestroy", JAVA_INT, ADDRESS);
    static final Fn GET_VERSION = Fn.of("cublasLtGetVersion", JAVA_LONG);
    static final Fn GET_STATUS_NAME = Fn.of("cublasLtGetStatusName", ADDRESS, JAVA_INT);
    static final Fn GET_STATUS_STRING = Fn.of("cublasLtGetStatusString", ADDRESS, JAVA_INT);
    static final Fn MATMUL_DESC_CREATE = Fn.of("cublasLtMatmulDescCreate", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    static final Fn MATMUL_DESC_DESTROY = Fn.of("cublasLtMatmulDescDestroy", JAVA_INT, ADDRESS);
    static final Fn MATMUL_DESC_SET_ATTRIBUTE = Fn.of("cublasLtMatmulDescSetAttribute", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    static final Fn MATRIX_LAYOUT_CREATE = Fn.of("cublasLtMatrixLayoutCreate", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final Fn MATRIX_LAYOUT_DESTROY = Fn.of("cublasLtMatrixLayoutDestroy", JAVA_INT, ADDRESS);
    static final Fn PREFERENCE_CREATE = Fn.of("cublasLtMatmulPreferenceCreate", JAVA_INT, ADDRESS);
    static final Fn PREFERENCE_DESTROY = Fn.of("cublasLtMatmulPreferenceDestroy", JAVA_INT, ADDRESS);
    static final Fn PREFERENCE_SET_ATTRIBUTE = Fn.of("cublasLtMatmulPreferenceSetAttribute", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    static final Fn ALGO_GET_HEURISTIC = Fn.of("cublasLtMatmulAlgoGetHeuristic", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    static final Fn MATMUL = Fn.of("cublasLtMatmul", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);

    static final List<Fn> FUNCTIONS = List.of(CREATE, DESTROY, GET_VERSION, GET_STATUS_NAME, GET_STATUS_STRING,
            MATMUL_DESC_CREATE, MATMUL_DESC_DESTROY, MATMUL_DESC_SET_ATTRIBUTE, MATRIX_LAYOUT_CREATE, MATRIX_LAYOUT_DESTROY,
            PREFERENCE_CREATE, PREFERENCE_DESTROY, PREFERENCE_SET_ATTRIBUTE, ALGO_GET_HEURISTIC, MATMUL);

    /** Element types of the operands, with their cudaDataType_t values. */
    public enum DataType {
        F32(CUDA_R_32F, 4), F16(CUDA_R_16F, 2), BF16(CUDA_R_16BF, 2);

        final int cuda;
        final int bytes;

        DataType(int cuda, int bytes) {
            this.cuda = cuda;
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }
    }

    private static volatile CublasLt instance;

    private final LibraryLocator.Loaded library;
    private final MethodHandle create, destroy, getVersion, getStatusName, getStatusString, matmulDescCreate,
            matmulDescDestroy, matmulDescSetAttribute, matrixLayoutCreate, matrixLayoutDestroy, preferenceCreate,
            preferenceDestroy, preferenceSetAttribute, algoGetHeuristic, matmul;

    private CublasLt(LibraryLocator.Loaded lib) {
        library = lib;
        create = CREATE.bind(lib);
        destroy = DESTROY.bind(lib);
        getVersion = GET_VERSION.bind(lib);
        getStatusName = GET_STATUS_NAME.bind(lib);
        getStatusString = GET_STATUS_STRING.bind(lib);
        matmulDescCreate = MATMUL_DESC_CREATE.bind(lib);
        matmulDescDestroy = MATMUL_DESC_DESTROY.bind(lib);
        matmulDescSetAttribute = MATMUL_DESC_SET_ATTRIBUTE.bind(lib);
        matrixLayoutCreate = MATRIX_LAYOUT_CREATE.bind(lib);
        matrixLayoutDestroy = MATRIX_LAYOUT_DESTROY.bind(lib);
        preferenceCreate = PREFERENCE_CREATE.bind(lib);
        preferenceDestroy = PREFERENCE_DESTROY.bind(lib);
        preferenceSetAttribute = PREFERENCE_SET_ATTRIBUTE.bind(lib);
        algoGetHeuristic = ALGO_GET_HEURISTIC.bind(lib);
        matmul = MATMUL.bind(lib);
    }

    public static CublasLt get() {
        CublasLt c = instance;
        if (c == null) {
            synchronized (CublasLt.class) {
                c = instance;
                if (c == null) {
                    c = load(LibraryLocator.system());
                    instance = c;
                }
            }
        }
        return c;
    }

    static CublasLt load(LibraryLocator locator) {
        return new CublasLt(locator.load(CudaLibrary.CUBLAS_LT));
    }

    public String loadedFrom() {
        return library.from().target();
    }

    /** The library's version, e.g. 130101 for 13.1.1 (needs no GPU). */
    public long version() {
        try {
            return (long) getVersion.invokeExact();
        } catch (Throwable t) {
            throw new CudaException("cublasLtGetVersion could not be called: " + t, t);
        }
    }

    public String statusName(int status) {
        return text(getStatusName, status, "cublasStatus_t " + status);
    }

    String statusString(int status) {
        return text(getStatusString, status, "");
    }

    private static String text(MethodHandle h, int status, String fallback) {
        try {
            MemorySegment s = (MemorySegment) h.invokeExact(status);
            return s.equals(MemorySegment.NULL) ? fallback : s.reinterpret(512).getString(0);
        } catch (Throwable t) {
            return fallback;
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
            throw new CudaException("a cuBLASLt call could not be made: " + t, t);
        }
    }

    void check(int status, String function, String attempt) {
        if (status != CUBLAS_STATUS_SUCCESS) {
            throw new CudaCallException(function, status, statusName(status), statusString(status), attempt);
        }
    }

    /** A cuBLASLt handle; needs a current CUDA context. */
    public MemorySegment createHandle() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(ADDRESS);
            check(call(() -> (int) create.invokeExact(h)), "cublasLtCreate", "creating a cuBLASLt handle");
            return h.get(ADDRESS, 0);
        }
    }

    public void destroyHandle(MemorySegment handle) {
        check(call(() -> (int) destroy.invokeExact(handle)), "cublasLtDestroy", "destroying a cuBLASLt handle");
    }

    /**
     * The descriptors and chosen algorithm of {@code y[rows, out] (+)= x[rows, in] · W[out, in]ᵀ (+ bias)}:
     * built once per shape, run many times. {@code x} and {@code W} share {@code inputType}; {@code y} and
     * the bias are float32.
     *
     * @param accumulate {@code y += …} (beta = 1) instead of {@code y = …}: a fused residual add
     * @param workspace  bytes of workspace the caller will pass to {@link LinearPlan#run}
     */
    public LinearPlan linearPlan(MemorySegment handle, int rows, int in, int out, DataType inputType, boolean bias,
                                 boolean accumulate, long workspace) {
        if (rows < 1 || in < 1 || out < 1) {
            throw new IllegalArgumentException("a linear layer needs positive sizes, found rows " + rows + ", in " + in + ", out " + out);
        }
        String what = "a " + inputType + " linear layer [" + rows + " × " + in + "] · [" + out + " × " + in + "]ᵀ";
        Arena arena = Arena.ofShared();
        try {
            MemorySegment out1 = arena.allocate(ADDRESS);
            check(call(() -> (int) matmulDescCreate.invokeExact(out1, CUBLAS_COMPUTE_32F, CUDA_R_32F)),
                    "cublasLtMatmulDescCreate", "describing " + what);
            MemorySegment desc = out1.get(ADDRESS, 0);
            setDescInt(arena, desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T, what);
            setDescInt(arena, desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N, what);
            setDescInt(arena, desc, CUBLASLT_MATMUL_DESC_EPILOGUE, bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT, what);
            MemorySegment a = layout(arena, inputType.cuda, in, out, in, what);
            MemorySegment b = layout(arena, inputType.cuda, in, rows, in, what);
            MemorySegment d = layout(arena, CUDA_R_32F, out, rows, out, what);
            MemorySegment pref = arena.allocate(ADDRESS);
            check(call(() -> (int) preferenceCreate.invokeExact(pref)), "cublasLtMatmulPreferenceCreate", "choosing an algorithm for " + what);
            MemorySegment p = pref.get(ADDRESS, 0);
            MemorySegment ws = arena.allocateFrom(JAVA_LONG, workspace);
            check(call(() -> (int) preferenceSetAttribute.invokeExact(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, 8L)),
                    "cublasLtMatmulPreferenceSetAttribute", "limiting the workspace of " + what);
            MemorySegment result = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
            MemorySegment count = arena.allocate(JAVA_INT);
            check(call(() -> (int) algoGetHeuristic.invokeExact(handle, desc, a, b, d, d, p, 1, result, count)),
                    "cublasLtMatmulAlgoGetHeuristic", "choosing an algorithm for " + what);
            call(() -> (int) preferenceDestroy.invokeExact(p));
            if (count.get(JAVA_INT, 0) < 1 || result.get(JAVA_INT, HEURISTIC_STATE_OFFSET) != CUBLAS_STATUS_SUCCESS) {
                throw new CudaException("cuBLASLt at " + loadedFrom() + " has no algorithm for " + what + " with "
                        + workspace + " bytes of workspace");
            }
            long needed = result.get(JAVA_LONG, HEURISTIC_WORKSPACE_OFFSET);
            return new LinearPlan(this, arena, desc, a, b, d, result.asSlice(0, 64), needed, accumulate, bias, what);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private void setDescInt(Arena arena, MemorySegment desc, int attribute, int value, String what) {
        MemorySegment v = arena.allocateFrom(JAVA_INT, value);
        check(call(() -> (int) matmulDescSetAttribute.invokeExact(desc, attribute, v, 4L)), "cublasLtMatmulDescSetAttribute",
                "setting attribute " + attribute + " of " + what);
    }

    /** A column-major {@code rows × cols} layout with leading dimension {@code ld}. */
    private MemorySegment layout(Arena arena, int type, long rows, long cols, long ld, String what) {
        MemorySegment out = arena.allocate(ADDRESS);
        check(call(() -> (int) matrixLayoutCreate.invokeExact(out, type, rows, cols, ld)), "cublasLtMatrixLayoutCreate",
                "describing a " + rows + " × " + cols + " operand of " + what);
        return out.get(ADDRESS, 0);
    }

    /** One planned linear product; {@link #run} queues it on a stream. Not thread-safe: one caller at a time. */
    public static final class LinearPlan implements AutoCloseable {

        private final CublasLt lt;
        private final Arena arena;
        private final MemorySegment desc;
        private final MemorySegment a;
        private final MemorySegment b;
        private final MemorySegment d;
        private final MemorySegment algo;
        private final long workspaceNeeded;
        private final boolean bias;
        private final String what;
        private final MemorySegment alpha;
        private final MemorySegment beta;
        private final MemorySegment biasPointer;

        private LinearPlan(CublasLt lt, Arena arena, MemorySegment desc, MemorySegment a, MemorySegment b, MemorySegment d,
                           MemorySegment algo, long workspaceNeeded, boolean accumulate, boolean bias, String what) {
            this.lt = lt;
            this.arena = arena;
            this.desc = desc;
            this.a = a;
            this.b = b;
            this.d = d;
            this.algo = algo;
            this.workspaceNeeded = workspaceNeeded;
            this.bias = bias;
            this.what = what;
            this.alpha = arena.allocateFrom(JAVA_FLOAT, 1f);
            this.beta = arena.allocateFrom(JAVA_FLOAT, accumulate ? 1f : 0f);
            this.biasPointer = arena.allocate(ADDRESS);
        }

        /** Workspace bytes the chosen algorithm needs (at most what was offered). */
        public long workspaceNeeded() {
            return workspaceNeeded;
        }

        /**
         * Queues the product. Device pointers: {@code x} [rows, in], {@code w} [out, in], {@code biasPtr} out
         * floats (ignored without bias), {@code y} [rows, out] float32.
         */
        public void run(MemorySegment handle, MemorySegment stream, long x, long w, long biasPtr, long y, long workspace,
                        long workspaceBytes) {
            if (bias) {
                biasPointer.set(ADDRESS, 0, MemorySegment.ofAddress(biasPtr));
                lt.check(call(() -> (int) lt.matmulDescSetAttribute.invokeExact(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                        biasPointer, 8L)), "cublasLtMatmulDescSetAttribute", "setting the bias of " + what);
            }
            MemorySegment ys = MemorySegment.ofAddress(y);
            lt.check(call(() -> (int) lt.matmul.invokeExact(handle, desc, alpha, MemorySegment.ofAddress(w), a,
                    MemorySegment.ofAddress(x), b, beta, ys, d, ys, d, algo, MemorySegment.ofAddress(workspace),
                    workspaceBytes, stream)), "cublasLtMatmul", "computing " + what);
        }

        @Override
        public void close() {
            call(() -> (int) lt.matrixLayoutDestroy.invokeExact(a));
            call(() -> (int) lt.matrixLayoutDestroy.invokeExact(b));
            call(() -> (int) lt.matrixLayoutDestroy.invokeExact(d));
            call(() -> (int) lt.matmulDescDestroy.invokeExact(desc));
            arena.close();
        }
    }
}
