package io.github.zimage4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident-memory figures of this process, from /proc (Linux); -1 where unavailable. */
public final class Memory {

    private Memory() {
    }

    /** Peak resident set size in bytes (VmHWM). */
    public static long peakRssBytes() {
        return statusKb("VmHWM:");
    }

    /**
     * Starts a new peak: VmHWM drops to the current resident size (Linux ≥ 4.0, {@code clear_refs} value 5),
     * so that one process can report the peak of each of several runs. False where that is not possible.
     */
    public static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Current resident set size in bytes (VmRSS). */
    public static long rssBytes() {
        return statusKb("VmRSS:");
    }

    /** Anonymous (heap, native buffers) and file-backed (mapped weights) resident memory, e.g. "anon 2.1 GB, file 12.3 GB". */
    public static String residentBreakdown() {
        return String.format("anon %.2f GB, file %.2f GB", statusKb("RssAnon:") / 1e9, statusKb("RssFile:") / 1e9);
    }

    private static long statusKb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
