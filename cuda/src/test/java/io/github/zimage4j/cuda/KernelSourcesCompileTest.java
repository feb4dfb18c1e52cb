package io.github.zimage4j.cuda;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel source compiles with nvcc for each GPU generation the backend targets: Ampere (sm_80),
 * Hopper (sm_90), Blackwell data-center (sm_100) and consumer (sm_120). Warnings fail the test too
 * ({@code -Werror all-warnings}). Needs nvcc, no GPU.
 */
class KernelSourcesCompileTest {

    static final List<Integer> ARCHS = List.of(80, 90, 100, 120);

    @TempDir
    static Path tmp;

    @TestFactory
    Stream<DynamicTest> everyKernelSourceCompilesWithNvcc() throws IOException {
        Path nvcc = CudaToolchain.requireNvcc();
        Path src = Files.createDirectories(tmp.resolve("src"));
        for (String h : KernelSources.HEADERS) {
            Files.writeString(src.resolve(h), KernelSources.read(h));
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (String program : KernelSources.PROGRAMS) {
            Files.writeString(src.resolve(program), KernelSources.read(program));
            for (int arch : ARCHS) {
                tests.add(DynamicTest.dynamicTest(program + " sm_" + arch, () -> {
                    Path out = tmp.resolve(program + "." + arch + ".cubin");
                    CudaToolchain.Result r = CudaToolchain.run(List.of(nvcc.toString(), "-arch=sm_" + arch, "-cubin",
                            "-std=c++17", "-Werror", "all-warnings", "-o", out.toString(), src.resolve(program).toString()),
                            src, 600);
                    assertEquals(0, r.exit(), "nvcc -arch=sm_" + arch + " " + program + ":\n" + r.output());
                    assertTrue(Files.size(out) > 0);
                }));
            }
        }
        return tests.stream();
    }
}
