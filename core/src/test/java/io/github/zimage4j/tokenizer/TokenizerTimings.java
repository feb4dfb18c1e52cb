package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.Json;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Prints how long loading the tokenizer and encoding 2,000-character prompts take (a measurement tool, not
 * a test; nothing is asserted). Run from the project root after {@code ./mvnw -B -q -pl core test-compile}:
 * <pre>
 * java -cp core/target/classes:core/target/test-classes io.github.zimage4j.tokenizer.TokenizerTimings [GOLDEN_TOKENIZER_DIR]
 * </pre>
 * The prompts are the first 2,000 characters of the golden "long" cases (English, Chinese, digits,
 * mixed, ...). Each figure is the median of the second half of repeated runs (warm), with wall and thread
 * CPU time, plus the very first run (cold).
 */
public final class TokenizerTimings {

    /** Held so that the level set on it stays. */
    private static final java.util.logging.Logger TRUNCATION_LOG = java.util.logging.Logger.getLogger(Qwen3Tokenizer.class.getName());

    private TokenizerTimings() {
    }

    public static void main(String[] args) throws Exception {
        TRUNCATION_LOG.setLevel(java.util.logging.Level.OFF); // most of these prompts are over 512 tokens
        Path dir = Path.of(args.length > 0 ? args[0] : "../shared/golden/tokenizer");
        Path json = dir.resolve("qwen3").resolve("tokenizer.json");
        List<String> prompts = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("cases.jsonl"))) {
            Map<?, ?> c = (Map<?, ?>) Json.parse(line);
            if ("long".equals(c.get("category"))) {
                String text = (String) c.get("text");
                prompts.add(text.substring(0, Math.min(2000, text.length())));
            }
        }

        time("load(tokenizer.json)", 40, () -> {
            try {
                return Qwen3Tokenizer.load(json);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        time("bundled()", 40, Qwen3Tokenizer::bundled);

        Qwen3Tokenizer tokenizer = Qwen3Tokenizer.bundled();
        for (int warm = 0; warm < 30; warm++) {
            for (String p : prompts) {
                Qwen3Tokenizer.bundled().chatIds(p); // fresh instances: warms the JIT, not the word cache
            }
        }
        for (String p : prompts) {
            // A fresh tokenizer per run: its word cache is empty, as for the first prompt of a session.
            List<Qwen3Tokenizer> fresh = new ArrayList<>();
            for (int i = 0; i < 15; i++) {
                fresh.add(Qwen3Tokenizer.bundled());
            }
            int[] k = {0};
            String label = "chatIds, 2000 chars, " + tokenizer.chatIds(p).ids().length + "+"
                    + tokenizer.chatIds(p).droppedTokens() + " tokens, \"" + p.substring(0, 12).replace("\n", " ") + "...\"";
            time(label + ", empty cache", 15, () -> fresh.get(k[0]++).chatIds(p));
            time(label + ", warm cache", 200, () -> tokenizer.chatIds(p));
        }
    }

    /** Wall time, and this thread's CPU time (less disturbed on a busy machine). */
    static void time(String what, int runs, Supplier<Object> task) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        double[] wall = new double[runs];
        double[] cpu = new double[runs];
        for (int i = 0; i < runs; i++) {
            long c0 = threads.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            Object keep = task.get();
            wall[i] = (System.nanoTime() - t0) / 1e6;
            cpu[i] = (threads.getCurrentThreadCpuTime() - c0) / 1e6;
            if (keep == null) {
                throw new IllegalStateException();
            }
        }
        System.out.printf("%-84s first %7.2f ms; median of the last %d: wall %7.3f ms, cpu %7.3f ms%n",
                what, wall[0], runs - runs / 2, medianOfSecondHalf(wall), medianOfSecondHalf(cpu));
    }

    static double medianOfSecondHalf(double[] values) {
        double[] later = Arrays.copyOfRange(values, values.length / 2, values.length);
        Arrays.sort(later);
        return later[later.length / 2];
    }
}
