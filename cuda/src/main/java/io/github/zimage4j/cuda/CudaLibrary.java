package io.github.zimage4j.cuda;

import java.util.List;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The three native libraries a CUDA backend needs, and how their files are named. Versioned names are
 * preferred (the unversioned {@code .so} is a developer symlink that may point anywhere); among several
 * versions in one folder the newest wins.
 */
public enum CudaLibrary {

    /** The driver API. It belongs to the installed kernel driver, never to a toolkit or a wheel. */
    DRIVER("the CUDA driver", "libcuda.so", List.of(1),
            "install the NVIDIA driver (libcuda.so.1 comes with it, not with the CUDA toolkit); in a container run "
                    + "with the NVIDIA container runtime (--gpus all)"),
    /** cuBLASLt: the matmuls (linear layers, convolutions as GEMMs). */
    CUBLAS_LT("cuBLASLt", "libcublasLt.so", List.of(13, 12),
            "install the CUDA toolkit 13 (or 12), or `pip install nvidia-cublas`, or set CUDA_HOME or LD_LIBRARY_PATH "
                    + "to the folder holding libcublasLt.so.13"),
    /** NVRTC: compiles the kernels at run time for the device's architecture. */
    NVRTC("NVRTC", "libnvrtc.so", List.of(13, 12),
            "install the CUDA toolkit 13 (or 12), or `pip install nvidia-cuda-nvrtc`, or set CUDA_HOME or LD_LIBRARY_PATH "
                    + "to the folder holding libnvrtc.so.13");

    private final String title;
    private final String base;
    private final List<Integer> majors;
    private final String hint;
    private final Pattern versioned;

    CudaLibrary(String title, String base, List<Integer> majors, String hint) {
        this.title = title;
        this.base = base;
        this.majors = majors;
        this.hint = hint;
        // libnvrtc.so.13 and libnvrtc.so.13.0.88, never libnvrtc.alt.so.13 or libnvrtc-builtins.so.13.0.
        this.versioned = Pattern.compile(Pattern.quote(base) + "\\.(\\d+)(\\.\\d+)*");
    }

    public String title() {
        return title;
    }

    /** Accepted major versions, preferred first. */
    public List<Integer> majors() {
        return majors;
    }

    /** What to do when the library is missing. */
    public String hint() {
        return hint;
    }

    /** The soname the system loader is asked for: {@code libcuda.so.1}, {@code libcublasLt.so.13}, … */
    public String soname(int major) {
        return base + "." + major;
    }

    /** "libcublasLt.so.13 or .12" for messages. */
    public String fileNames() {
        StringBuilder b = new StringBuilder(soname(majors.getFirst()));
        for (int i = 1; i < majors.size(); i++) {
            b.append(" or .").append(majors.get(i));
        }
        return b.toString();
    }

    /**
     * The rank of a file name for this library: lower is better, empty when the name is not one of its
     * accepted files. Versioned names rank by the order of {@link #majors()}, then longer (more exact)
     * names; the bare {@code .so} comes last.
     */
    OptionalInt rank(String fileName) {
        if (fileName.equals(base)) {
            return OptionalInt.of(1000);
        }
        Matcher m = versioned.matcher(fileName);
        if (!m.matches()) {
            return OptionalInt.empty();
        }
        int major;
        try {
            major = Integer.parseInt(m.group(1));
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
        int i = majors.indexOf(major);
        if (i < 0) {
            return OptionalInt.empty();
        }
        // The soname itself (libcuda.so.1) before a fully versioned file beside it: the soname is what the
        // loader would pick.
        return OptionalInt.of(i * 10 + (m.group(2) == null ? 0 : 1));
    }
}
