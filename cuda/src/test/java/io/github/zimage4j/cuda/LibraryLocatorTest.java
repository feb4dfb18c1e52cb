package io.github.zimage4j.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Library discovery on fake machines laid out in temporary folders (the system loader is left out). */
class LibraryLocatorTest {

    @TempDir
    Path root;

    private Path home() throws IOException {
        return Files.createDirectories(root.resolve("home/user"));
    }

    private static Path touch(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.writeString(file, "not a real library");
    }

    private LibraryLocator locator(Map<String, String> env) throws IOException {
        return new LibraryLocator(env, root, home(), false);
    }

    private static List<String> targets(LibraryLocator l, CudaLibrary lib) {
        return l.candidates(lib).stream().map(LibraryLocator.Candidate::target).toList();
    }

    @Test
    void cudaHomeComesBeforeTheDefaultToolkit() throws IOException {
        Path custom = touch(root.resolve("opt/cuda-custom/lib64/libcublasLt.so.13"));
        Path standard = touch(root.resolve("usr/local/cuda/lib64/libcublasLt.so.13"));
        List<String> found = targets(locator(Map.of("CUDA_HOME", root.resolve("opt/cuda-custom").toString())),
                CudaLibrary.CUBLAS_LT);
        assertEquals(List.of(custom.toString(), standard.toString()), found);
    }

    @Test
    void newerToolkitsComeFirstAndTheTargetsFolderCounts() throws IOException {
        Path old = touch(root.resolve("usr/local/cuda-12.4/lib64/libnvrtc.so.12"));
        Path newer = touch(root.resolve("usr/local/cuda-13.0/targets/x86_64-linux/lib/libnvrtc.so.13"));
        Path ten = touch(root.resolve("usr/local/cuda-13.10/lib64/libnvrtc.so.13"));
        assertEquals(List.of(ten.toString(), newer.toString(), old.toString()), targets(locator(Map.of()), CudaLibrary.NVRTC));
    }

    @Test
    void versionedFilesRankBy13Then12ThenTheBareSymlink() throws IOException {
        Path dir = root.resolve("usr/local/cuda/lib64");
        Path bare = touch(dir.resolve("libcublasLt.so"));
        Path twelve = touch(dir.resolve("libcublasLt.so.12"));
        Path full = touch(dir.resolve("libcublasLt.so.13.1.1.3"));
        Path soname = touch(dir.resolve("libcublasLt.so.13"));
        touch(dir.resolve("libcublasLt.so.11"));
        touch(dir.resolve("libcublasLt_static.a"));
        assertEquals(List.of(soname.toString(), full.toString(), twelve.toString(), bare.toString()),
                targets(locator(Map.of()), CudaLibrary.CUBLAS_LT));
    }

    @Test
    void nvrtcIsNotConfusedWithItsBuiltinsOrTheAltBuild() throws IOException {
        Path dir = root.resolve("usr/local/cuda/lib64");
        touch(dir.resolve("libnvrtc-builtins.so.13.0"));
        touch(dir.resolve("libnvrtc.alt.so.13"));
        Path real = touch(dir.resolve("libnvrtc.so.13"));
        assertEquals(List.of(real.toString()), targets(locator(Map.of()), CudaLibrary.NVRTC));
    }

    @Test
    void pythonWheelsAreFoundInEveryUsualPrefix() throws IOException {
        Path venv = root.resolve("work/venv");
        Path conda = root.resolve("opt/miniconda/envs/x");
        Path inVenv = touch(venv.resolve("lib/python3.12/site-packages/nvidia/cu13/lib/libcublasLt.so.13"));
        Path inConda = touch(conda.resolve("lib/python3.11/site-packages/nvidia/cublas/lib/libcublasLt.so.12"));
        Path inUser = touch(home().resolve(".local/lib/python3.10/site-packages/nvidia/cu13/lib/libcublasLt.so.13"));
        Path inPyenv = touch(home().resolve(".pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib/libcublasLt.so.13"));
        Path inLocal = touch(root.resolve("usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublasLt.so.13"));
        Path inSystem = touch(root.resolve("usr/lib/python3/dist-packages/nvidia/cu13/lib/libcublasLt.so.13"));
        Map<String, String> env = Map.of("VIRTUAL_ENV", venv.toString(), "CONDA_PREFIX", conda.toString());
        assertEquals(List.of(inVenv.toString(), inConda.toString(), inUser.toString(), inPyenv.toString(), inLocal.toString(),
                inSystem.toString()), targets(locator(env), CudaLibrary.CUBLAS_LT));
    }

    @Test
    void ldLibraryPathComesBeforeTheToolkitsInItsOwnOrder() throws IOException {
        Path a = touch(root.resolve("a/libnvrtc.so.13"));
        Path b = touch(root.resolve("b/libnvrtc.so.13"));
        Path toolkit = touch(root.resolve("usr/local/cuda/lib64/libnvrtc.so.13"));
        Map<String, String> env = Map.of("LD_LIBRARY_PATH", root.resolve("b") + "::" + root.resolve("a") + ":relative/dir");
        assertEquals(List.of(b.toString(), a.toString(), toolkit.toString()), targets(locator(env), CudaLibrary.NVRTC));
    }

    @Test
    void theDriverIsSoughtInSystemFoldersWslAndContainersButNeverInStubs() throws IOException {
        touch(root.resolve("usr/local/cuda/lib64/stubs/libcuda.so.1"));
        touch(root.resolve("usr/local/cuda/lib64/libcuda.so.1")); // a toolkit folder is not where the driver lives
        Path wsl = touch(root.resolve("usr/lib/wsl/lib/libcuda.so.1"));
        Path debian = touch(root.resolve("usr/lib/x86_64-linux-gnu/libcuda.so.1"));
        Path container = touch(root.resolve("usr/local/nvidia/lib64/libcuda.so.1"));
        Path compat = touch(root.resolve("usr/local/cuda/compat/libcuda.so.1"));
        Map<String, String> env = Map.of("LD_LIBRARY_PATH", root.resolve("usr/local/cuda/lib64/stubs").toString());
        assertEquals(List.of(debian.toString(), container.toString(), wsl.toString(), compat.toString()),
                targets(locator(env), CudaLibrary.DRIVER));
    }

    @Test
    void aMissingLibraryNamesEveryPlaceLookedAtAndTheFix() throws IOException {
        Map<String, String> env = new HashMap<>();
        env.put("CUDA_HOME", root.resolve("nowhere/cuda").toString());
        CudaLibraryNotFoundException e = assertThrows(CudaLibraryNotFoundException.class,
                () -> locator(env).load(CudaLibrary.CUBLAS_LT));
        String m = e.getMessage();
        assertEquals(CudaLibrary.CUBLAS_LT, e.library());
        assertTrue(m.startsWith("cuBLASLt (libcublasLt.so.13 or .12) could not be loaded."), m);
        for (LibraryLocator.Place p : locator(env).places(CudaLibrary.CUBLAS_LT)) {
            assertTrue(m.contains(p.pattern()), "the message names " + p.pattern() + ":\n" + m);
        }
        assertTrue(m.contains(root.resolve("nowhere/cuda/lib64") + "  (no such folder)"), m);
        assertTrue(m.contains(root + "/usr/local/cuda-*/lib64  (no match)"), m);
        assertTrue(m.contains("site-packages/nvidia/*/lib  (no match)"), m);
        assertTrue(m.contains("$LD_LIBRARY_PATH  (not set)"), m);
        assertFalse(m.contains("$CUDA_HOME  (not set)"), m);
        assertTrue(m.contains("pip install nvidia-cublas"), m);
    }

    @Test
    void aFileTheLoaderRefusesIsReportedWithItsReason() throws IOException {
        Path broken = touch(root.resolve("usr/local/cuda/lib64/libnvrtc.so.13"));
        CudaLibraryNotFoundException e = assertThrows(CudaLibraryNotFoundException.class,
                () -> locator(Map.of()).load(CudaLibrary.NVRTC));
        assertTrue(e.getMessage().contains("Found but refused by the loader:\n  " + broken + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(root + "/usr/local/cuda/lib64\n") || e.getMessage().contains(root + "/usr/local/cuda/lib64 "),
                "the folder with only a refused file is listed without a 'no such folder' note:\n" + e.getMessage());
    }

    @Test
    void theDriverMessageTellsToInstallTheDriverNotAToolkit() throws IOException {
        CudaLibraryNotFoundException e = assertThrows(CudaLibraryNotFoundException.class,
                () -> locator(Map.of()).load(CudaLibrary.DRIVER));
        assertTrue(e.getMessage().contains("/usr/lib/wsl/lib  (no such folder)"), e.getMessage());
        assertTrue(e.getMessage().contains("install the NVIDIA driver"), e.getMessage());
    }

    @Test
    void versionsCompareNumerically() {
        assertTrue(LibraryLocator.compareVersions("cuda-13.0", "cuda-9.2") > 0);
        assertTrue(LibraryLocator.compareVersions("python3.12", "python3.9") > 0);
        assertTrue(LibraryLocator.compareVersions("cuda-13.10", "cuda-13.2") > 0);
        assertEquals(0, LibraryLocator.compareVersions("cuda-13.0", "cuda-13.0"));
    }
}
