package io.github.zimage4j.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NVRTC through the FFM bindings, for real: it needs no GPU, only libnvrtc (a CUDA toolkit or the
 * nvidia-cuda-nvrtc wheel, which scripts/test-deps installs next to nvcc). Skipped only where nvcc is absent.
 */
class NvrtcTest {

    static Nvrtc nvrtc;

    @BeforeAll
    static void load() {
        CudaToolchain.requireNvcc();
        nvrtc = Nvrtc.get();
    }

    @Test
    void versionAndArchitecturesCoverTheTargets() {
        int[] v = nvrtc.version();
        assertTrue(v[0] >= 12, "NVRTC " + Arrays.toString(v) + " from " + nvrtc.loadedFrom());
        int[] archs = nvrtc.supportedArchs();
        for (int want : new int[] {80, 90}) {
            assertTrue(Arrays.stream(archs).anyMatch(a -> a == want), "sm_" + want + " in " + Arrays.toString(archs));
        }
        assertEquals("sm_90", nvrtc.archFor(90));
        // A future device NVRTC has no machine code for gets PTX of the newest architecture it knows.
        int newest = Arrays.stream(archs).max().orElseThrow();
        assertEquals("compute_" + newest, nvrtc.archFor(newest + 5));
    }

    @TestFactory
    Stream<DynamicTest> everyProgramCompilesToCubinForSm80AndSm90() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String program : KernelSources.PROGRAMS) {
            for (String arch : List.of("sm_80", "sm_90")) {
                tests.add(DynamicTest.dynamicTest(program + " " + arch, () -> {
                    Nvrtc.Compiled c = KernelSources.compile(nvrtc, program, arch);
                    assertTrue(c.cubin());
                    // An ELF image: what cuModuleLoadData takes.
                    assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F'}, Arrays.copyOf(c.image(), 4), program);
                }));
            }
        }
        return tests.stream();
    }

    @Test
    void ptxForAVirtualArchitectureNamesTheKernels() {
        Nvrtc.Compiled c = KernelSources.compile(nvrtc, "norms.cu", "compute_80");
        String ptx = new String(c.image(), java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(ptx.contains(".entry rms_norm_f32"), ptx.substring(0, Math.min(400, ptx.length())));
    }

    @Test
    void aCompileErrorCarriesTheLogAndTheFileName() {
        CudaCallException e = assertThrows(CudaCallException.class, () -> nvrtc.compile(
                "extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }", "broken.cu", Map.of(),
                List.of("-arch=sm_80")));
        assertEquals("NVRTC_ERROR_COMPILATION", e.codeName());
        assertTrue(e.getMessage().contains("broken.cu"), e.getMessage());
        assertTrue(e.getMessage().contains("undefined_name"), e.getMessage());
    }
}
