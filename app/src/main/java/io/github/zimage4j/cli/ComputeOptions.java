package io.github.zimage4j.cli;

import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.onednn.Prepack;
import picocli.CommandLine.Option;

import java.io.PrintStream;

/** How to compute: the backend, thread and weight-layout options of every command that runs a model. */
final class ComputeOptions {

    @Option(names = "--backend", defaultValue = "auto", description = "Compute backend: auto, java or onednn. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--threads", description = "Compute threads (default: physical cores).")
    Integer threads;

    @Option(names = "--prepack", paramLabel = "auto|on|off",
            description = {"oneDNN: copy reused bf16 weights into its blocked layout (~6 %% faster products; the mapped pages "
                    + "leave the resident set, so memory holds one copy). auto: where the available memory allows it. "
                    + "Default: auto (or -Dzimage.prepack)."})
    String prepack;

    /**
     * Checks and applies the options before anything computes: the thread count (more threads than
     * processors is warned) and the prepack mode.
     */
    void apply(PrintStream err) {
        if (prepack != null) {
            Prepack.set(prepackMode(prepack));
        }
        if (threads != null) {
            if (threads < 1) {
                throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
            }
            String warning = threadsWarning(threads, Runtime.getRuntime().availableProcessors());
            if (warning != null) {
                err.println(warning);
            }
            Parallel.setThreads(threads);
        }
    }

    static Prepack prepackMode(String value) {
        try {
            return Prepack.parse(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--prepack: " + e.getMessage(), e);
        }
    }

    /** A warning when more compute threads are asked for than there are processors, else null. */
    static String threadsWarning(int threads, int cpus) {
        return threads > cpus ? "zimage4j: warning: --threads " + threads + " is more than the " + cpus
                + " processors here; the extra threads only compete for them" : null;
    }
}
