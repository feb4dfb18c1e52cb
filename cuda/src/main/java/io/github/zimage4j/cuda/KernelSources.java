package io.github.zimage4j.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The CUDA C++ kernel sources shipped as resources ({@code io/github/zimage4j/cuda/kernels/}), compiled at
 * run time by NVRTC for the device's exact architecture (see {@link Nvrtc} for why). They include no
 * CUDA header, only {@code common.cuh}, handed to NVRTC as an in-memory header.
 */
public final class KernelSources {

    private KernelSources() {
    }

    static final String FOLDER = "/io/github/zimage4j/cuda/kernels/";

    /** The programs, one CUDA module each. */
    public static final List<String> PROGRAMS = List.of("elementwise.cu", "norms.cu", "rope.cu", "groupnorm.cu", "conv.cu",
            "attention.cu");

    /** Headers the programs include. */
    public static final List<String> HEADERS = List.of("common.cuh");

    public static String read(String name) {
        try (InputStream in = KernelSources.class.getResourceAsStream(FOLDER + name)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + FOLDER + name + " is missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading kernel source " + name, e);
        }
    }

    public static Map<String, String> headers() {
        Map<String, String> h = new LinkedHashMap<>();
        for (String name : HEADERS) {
            h.put(name, read(name));
        }
        return h;
    }

    /**
     * NVRTC options for {@code arch} ({@code sm_90} or {@code compute_90}). No fast-math: the kernels that
     * match the Java ones bit for bit rely on IEEE division and square root.
     */
    public static List<String> options(String arch) {
        return List.of("-arch=" + arch, "-std=c++17", "--restrict");
    }

    /** Compiles one program for {@code arch}. */
    public static Nvrtc.Compiled compile(Nvrtc nvrtc, String program, String arch) {
        return nvrtc.compile(read(program), program, headers(), options(arch));
    }
}
