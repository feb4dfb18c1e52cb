package io.github.zimage4j.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every FFM binding and C constant of this module checked against the CUDA 13 headers (cuda.h, nvrtc.h,
 * cublasLt.h and what they include): a wrong symbol version, a missing or extra argument, an int where
 * the C function takes a size_t, or a wrong enum value fails here, without a GPU.
 *
 * <p>Two independent readings: a C++ program compiled against the headers prints what the preprocessor
 * maps each API name to ({@code cuMemAlloc} → {@code cuMemAlloc_v2}), each constant's value and the
 * heuristic-result struct's layout; a small declaration reader compares every parameter's kind with
 * the FunctionDescriptor.
 */
class CudaHeaderBindingsTest {

    /** Every bound function, with the library it belongs to. */
    static final Map<String, List<Fn>> BINDINGS = Map.of("cuda.h", CudaDriver.FUNCTIONS, "nvrtc.h", Nvrtc.FUNCTIONS,
            "cublasLt.h", CublasLt.FUNCTIONS);

    static CHeaders headers;
    static Map<String, String> probe;

    @BeforeAll
    static void readHeaders(@TempDir Path tmp) throws Exception {
        Path nvcc = CudaToolchain.requireNvcc();
        Path cudaInclude = CudaToolchain.requireHeader("cuda.h", "the CUDA toolkit (beside nvcc)");
        Path nvrtcInclude = CudaToolchain.requireHeader("nvrtc.h", "the CUDA toolkit or the nvidia-cuda-nvrtc wheel");
        Path cublasInclude = CudaToolchain.requireHeader("cublasLt.h", "the CUDA toolkit or the nvidia-cublas wheel");
        headers = new CHeaders(List.of(cudaInclude.resolve("cuda.h"), cudaInclude.resolve("driver_types.h"),
                cudaInclude.resolve("library_types.h"), nvrtcInclude.resolve("nvrtc.h"), cublasInclude.resolve("cublas_api.h"),
                cublasInclude.resolve("cublasLt.h")));
        probe = runProbe(tmp, nvcc, List.of(cudaInclude, nvrtcInclude, cublasInclude));
    }

    /** Compiles and runs a C++ program that prints, line by line, "key value" for every fact checked. */
    private static Map<String, String> runProbe(Path tmp, Path nvcc, List<Path> includes) throws Exception {
        StringBuilder src = new StringBuilder("""
                #include <cstdio>
                #include <cstddef>
                #include <cuda.h>
                #include <nvrtc.h>
                #include <cublasLt.h>
                #define STR_(x) #x
                #define STR(x) STR_(x)
                int main() {
                """);
        for (List<Fn> fns : BINDINGS.values()) {
            for (Fn f : fns) {
                src.append("  printf(\"symbol ").append(f.apiName()).append(" %s\\n\", STR(").append(f.apiName()).append("));\n");
                src.append("  (void)&").append(f.apiName()).append(";\n");
            }
        }
        for (Map.Entry<String, Integer> c : javaConstants().entrySet()) {
            src.append("  printf(\"const ").append(c.getKey()).append(" %lld\\n\", (long long)(").append(c.getKey()).append("));\n");
        }
        src.append("""
                  printf("sizeof cublasLtMatmulHeuristicResult_t %zu\\n", sizeof(cublasLtMatmulHeuristicResult_t));
                  printf("offsetof workspaceSize %zu\\n", offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize));
                  printf("offsetof state %zu\\n", offsetof(cublasLtMatmulHeuristicResult_t, state));
                  printf("sizeof cublasLtMatmulAlgo_t %zu\\n", sizeof(cublasLtMatmulAlgo_t));
                  return 0;
                }
                """);
        Path file = tmp.resolve("probe.cpp");
        Files.writeString(file, src);
        // nvcc needs a host compiler; it is the one to use for host code that includes CUDA headers.
        List<String> cmd = new ArrayList<>(List.of(nvcc.toString(), "-o", tmp.resolve("probe").toString()));
        for (Path i : includes) {
            cmd.add("-I" + i);
        }
        cmd.add(file.toString());
        CudaToolchain.Result built = CudaToolchain.run(cmd, tmp, 300);
        if (built.exit() != 0) {
            fail("the header probe does not compile against the CUDA headers (a bound name or constant is not declared "
                    + "there):\n" + built.output());
        }
        CudaToolchain.Result ran = CudaToolchain.run(List.of(tmp.resolve("probe").toString()), tmp, 60);
        assertEquals(0, ran.exit(), ran.output());
        Map<String, String> facts = new HashMap<>();
        for (String line : ran.output().split("\n")) {
            int lastSpace = line.lastIndexOf(' ');
            if (lastSpace > 0) {
                facts.put(line.substring(0, lastSpace), line.substring(lastSpace + 1));
            }
        }
        return facts;
    }

    /** The C constants this module writes out: static final ints named exactly as in the headers. */
    static Map<String, Integer> javaConstants() throws IllegalAccessException {
        Map<String, Integer> out = new java.util.TreeMap<>();
        for (Class<?> c : List.of(CudaDriver.class, Nvrtc.class, CublasLt.class)) {
            for (Field f : c.getDeclaredFields()) {
                int mod = f.getModifiers();
                if (Modifier.isStatic(mod) && Modifier.isFinal(mod) && f.getType() == int.class
                        && f.getName().matches("(CUDA|CU|NVRTC|CUBLAS|CUBLASLT)_[A-Z0-9_]+")) {
                    f.setAccessible(true);
                    Integer previous = out.put(f.getName(), f.getInt(null));
                    if (previous != null && previous != f.getInt(null)) {
                        fail(f.getName() + " has two different values in this module");
                    }
                }
            }
        }
        return out;
    }

    @TestFactory
    Stream<DynamicTest> everyBoundSymbolIsTheOneTheHeaderMapsItsNameTo() {
        return BINDINGS.entrySet().stream().flatMap(e -> e.getValue().stream().map(f ->
                DynamicTest.dynamicTest(e.getKey() + " " + f.symbol(), () -> assertEquals(probe.get("symbol " + f.apiName()),
                        f.symbol(), f.apiName() + " is " + probe.get("symbol " + f.apiName())
                                + " in " + e.getKey() + " of this toolkit, but the binding looks up " + f.symbol()))));
    }

    @TestFactory
    Stream<DynamicTest> everyDescriptorMatchesTheDeclaration() {
        return BINDINGS.entrySet().stream().flatMap(e -> e.getValue().stream().map(f ->
                DynamicTest.dynamicTest(e.getKey() + " " + f.apiName() + " signature", () -> {
                    CHeaders.Declaration d = headers.function(f.apiName())
                            .orElseThrow(() -> new AssertionError(f.apiName() + " is not declared in " + e.getKey()));
                    List<CHeaders.Kind> expected = f.descriptor().argumentLayouts().stream().map(CudaHeaderBindingsTest::kind).toList();
                    assertEquals(d.params(), expected, f.symbol() + " is bound with " + f.descriptor()
                            + " but declared as: " + d.text());
                    CHeaders.Kind ret = f.descriptor().returnLayout().map(CudaHeaderBindingsTest::kind).orElse(CHeaders.Kind.VOID);
                    assertEquals(d.returns(), ret, f.symbol() + " return type; declared as: " + d.text());
                })));
    }

    @TestFactory
    Stream<DynamicTest> everyConstantHasTheHeadersValue() throws IllegalAccessException {
        Map<String, Integer> constants = javaConstants();
        assertFalse(constants.isEmpty());
        return constants.entrySet().stream().map(c -> DynamicTest.dynamicTest(c.getKey(), () ->
                assertEquals(probe.get("const " + c.getKey()), String.valueOf(c.getValue()),
                        c.getKey() + " is written as " + c.getValue() + " but the headers say " + probe.get("const " + c.getKey()))));
    }

    @Test
    void heuristicResultLayoutMatchesCublasLtH() {
        assertEquals(String.valueOf(CublasLt.HEURISTIC_RESULT_BYTES), probe.get("sizeof cublasLtMatmulHeuristicResult_t"));
        assertEquals(String.valueOf(CublasLt.HEURISTIC_WORKSPACE_OFFSET), probe.get("offsetof workspaceSize"));
        assertEquals(String.valueOf(CublasLt.HEURISTIC_STATE_OFFSET), probe.get("offsetof state"));
        assertEquals("64", probe.get("sizeof cublasLtMatmulAlgo_t"), "the algo slice passed to cublasLtMatmul");
    }

    @Test
    void theReaderSeesAWrongArity() {
        // The reader itself must be able to tell: cuMemAlloc has two parameters, not three.
        CHeaders.Declaration d = headers.function("cuMemAlloc").orElseThrow();
        assertEquals(List.of(CHeaders.Kind.POINTER, CHeaders.Kind.LONG), d.params());
        assertTrue(headers.function("cuLaunchKernel").orElseThrow().params().size() == 11);
        assertEquals(CHeaders.Kind.INT, headers.typeKind("CUdevice", "test"));
        assertEquals(CHeaders.Kind.LONG, headers.typeKind("CUdeviceptr", "test"));
        assertEquals(CHeaders.Kind.POINTER, headers.typeKind("cudaStream_t", "test"));
    }

    private static CHeaders.Kind kind(MemoryLayout l) {
        if (l.equals(ValueLayout.ADDRESS)) {
            return CHeaders.Kind.POINTER;
        }
        if (l.equals(ValueLayout.JAVA_INT)) {
            return CHeaders.Kind.INT;
        }
        if (l.equals(ValueLayout.JAVA_LONG)) {
            return CHeaders.Kind.LONG;
        }
        if (l.equals(ValueLayout.JAVA_FLOAT)) {
            return CHeaders.Kind.FLOAT;
        }
        if (l.equals(ValueLayout.JAVA_BYTE)) {
            return CHeaders.Kind.BYTE;
        }
        throw new AssertionError("unexpected layout " + l);
    }
}
