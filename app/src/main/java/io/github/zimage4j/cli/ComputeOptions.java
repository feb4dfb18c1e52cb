package io.github.zimage4j.cli;

import io.github.zimage4j.kernels.Parallel;
import picocli.CommandLine.Option;

import java.io.PrintStream;

/** How to compute: the backend and thread options of every command that runs a model. */
final class ComputeOptions {

    @Option(names = "--backend", defaultValue = "auto", description = "Compute backend: auto, java or onednn. Default: ${DEFAULT-VALUE}.")
    String backend;

    @Option(names = "--threads", description = "Compute threads (default: physical cores).")
    Integer threads;

    /** Checks and sets the thread count (before anything computes); more threads than processors is warned. */
    void applyThreads(PrintStream err) {
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

    /** A warning when more compute threads are asked for than there are processors, else null. */
    static String threadsWarning(int threads, int cpus) {
        return threads > cpus ? "zimage4j: warning: --threads " + threads + " is more than the " + cpus
                + " processors here; the extra threads only compete for them" : null;
    }
}
