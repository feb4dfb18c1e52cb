package io.github.zimage4j.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA toolkit on a build machine (nvcc and the headers), for tests that check sources and bindings
 * without a GPU. Only nvcc's absence skips such a test: where nvcc exists, so must its host compiler and
 * the headers, and their absence fails the test with what to install.
 */
final class CudaToolchain {

    private CudaToolchain() {
    }

    static Optional<Path> nvcc() {
        List<Path> candidates = new ArrayList<>();
        String home = System.getenv("CUDA_HOME");
        if (home != null && !home.isBlank()) {
            candidates.add(Path.of(home, "bin", "nvcc"));
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(":")) {
                if (!dir.isBlank()) {
                    candidates.add(Path.of(dir, "nvcc"));
                }
            }
        }
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    /** nvcc, or the test is skipped with a message saying why. */
    static Path requireNvcc() {
        Optional<Path> n = nvcc();
        assumeTrue(n.isPresent(), "nvcc (the CUDA toolkit) is not installed here (looked at $CUDA_HOME/bin, PATH, "
                + "/usr/local/cuda/bin): the CUDA sources and headers cannot be checked on this machine");
        return n.get();
    }

    /** Folders that may hold CUDA headers: beside nvcc, the toolkits, and the include folders of pip's nvidia wheels. */
    static List<Path> includeDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        nvcc().ifPresent(n -> dirs.add(n.toAbsolutePath().getParent().getParent().resolve("include")));
        dirs.add(Path.of("/usr/local/cuda/include"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/include"));
        LibraryLocator system = LibraryLocator.system();
        for (CudaLibrary lib : List.of(CudaLibrary.NVRTC, CudaLibrary.CUBLAS_LT)) {
            for (LibraryLocator.Place p : system.places(lib)) {
                for (Path f : p.folders()) {
                    Path parent = f.getParent();
                    if (parent != null) {
                        dirs.add(parent.resolve("include"));
                    }
                }
            }
        }
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    /** The folder holding {@code header}; fails (nvcc being present) when none does. */
    static Path requireHeader(String header, String providedBy) {
        for (Path d : includeDirs()) {
            if (Files.isRegularFile(d.resolve(header))) {
                return d;
            }
        }
        fail(header + " not found in " + includeDirs() + "; it comes with " + providedBy
                + " (scripts/test-deps installs it where pip can)");
        throw new AssertionError();
    }

    record Result(int exit, String output) {
    }

    static Result run(List<String> command, Path dir, long timeoutSeconds) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
