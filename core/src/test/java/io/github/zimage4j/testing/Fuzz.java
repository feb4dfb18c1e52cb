package io.github.zimage4j.testing;

import io.github.zimage4j.io.ModelFileException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A small mutation fuzzer for file parsers: valid files with a few random mutations each (bit flips, edge
 * values over integers, inserted, deleted, duplicated or truncated runs), a fixed seed and a fixed number of
 * tries, so CI runs the same inputs every time in bounded time. The contract: a parser either succeeds or
 * fails with a typed error that says what is wrong.
 *
 * <p>Use from a test: {@code Fuzz.run("safetensors", seeds, 3000, bytes -> SafeTensors.open(Fuzz.file(bytes, "x.safetensors")))}.
 * A failing input is written to {@code target/fuzz-failures/} and named in the assertion.
 */
public final class Fuzz {

    private Fuzz() {
    }

    /** The seed every fuzz run uses, so a CI run is repeatable. */
    public static final long SEED = 20261205L;

    /** A parser call that may throw anything. */
    @FunctionalInterface
    public interface Call {
        void run() throws Exception;
    }

    /**
     * Runs {@code call}; passes when it returns, or throws a {@link ModelFileException}, an
     * {@link IllegalArgumentException} or one of {@code alsoTyped}, each with a message. Anything else
     * (a NullPointerException, an IndexOutOfBoundsException, an untyped IOException, an Error) fails with
     * the input's size and the exception as the cause.
     */
    @SafeVarargs
    public static void expectTypedFailureOrSuccess(byte[] input, Call call, Class<? extends Exception>... alsoTyped) {
        try {
            call.run();
        } catch (ModelFileException | IllegalArgumentException e) {
            requireMessage(input, e);
        } catch (Throwable t) {
            for (Class<? extends Exception> typed : alsoTyped) {
                if (typed.isInstance(t)) {
                    requireMessage(input, t);
                    return;
                }
            }
            throw new AssertionError("untyped failure on a " + input.length + "-byte input: " + t, t);
        }
    }

    private static void requireMessage(byte[] input, Throwable e) {
        if (e.getMessage() == null || e.getMessage().isBlank()) {
            throw new AssertionError("a " + e.getClass().getSimpleName() + " without a message on a "
                    + input.length + "-byte input", e);
        }
    }

    /** What a fuzz run feeds each input to. */
    @FunctionalInterface
    public interface Target {
        void parse(byte[] input) throws Exception;
    }

    /**
     * Feeds {@code tries} mutants of {@code seeds} (1–8 mutations each, from {@link #SEED}) to {@code target},
     * each under {@link #expectTypedFailureOrSuccess}; the first untyped failure fails the run with the try
     * number and the input saved to {@code target/fuzz-failures/NAME-TRY.bin}.
     */
    @SafeVarargs
    public static void run(String name, List<byte[]> seeds, int tries, Target target, Class<? extends Exception>... alsoTyped) {
        Random r = new Random(SEED ^ name.hashCode());
        for (int t = 0; t < tries; t++) {
            byte[] seed = seeds.get(r.nextInt(seeds.size()));
            byte[] input = mutate(seed, r, 1 + r.nextInt(8));
            try {
                expectTypedFailureOrSuccess(input, () -> target.parse(input), alsoTyped);
            } catch (AssertionError e) {
                throw new AssertionError(name + " try " + t + " of " + tries + ": " + e.getMessage() + "; input saved as "
                        + save(name + "-" + t, input), e.getCause() != null ? e.getCause() : e);
            }
        }
    }

    private static Path save(String name, byte[] input) {
        try {
            Path dir = Files.createDirectories(Path.of("target", "fuzz-failures"));
            return Files.write(dir.resolve(name + ".bin"), input).toAbsolutePath();
        } catch (IOException e) {
            return Path.of("(could not be saved: " + e.getMessage() + ")");
        }
    }

    private static final long[] EDGE_VALUES = {0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL,
            Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40};

    static byte[] mutate(byte[] seed, Random r, int count) {
        byte[] b = seed.clone();
        for (int m = 0; m < count; m++) {
            int len = b.length;
            int at = len == 0 ? 0 : r.nextInt(len);
            switch (r.nextInt(8)) {
                case 0 -> {
                    if (len > 0) {
                        b[at] ^= (byte) (1 << r.nextInt(8));
                    }
                }
                case 1 -> {
                    if (len > 0) {
                        b[at] = (byte) new int[]{0, 0xFF, 0x7F, 0x80, '"', '{', '[', ',', ':', '\\', ' '}[r.nextInt(11)];
                    }
                }
                case 2 -> {
                    if (len >= 8) {
                        int p = r.nextInt(len - 7);
                        long v = EDGE_VALUES[r.nextInt(EDGE_VALUES.length)];
                        int width = new int[]{1, 2, 4, 8}[r.nextInt(4)];
                        for (int i = 0; i < width; i++) {
                            b[p + i] = (byte) (v >>> (8 * i));
                        }
                    }
                }
                case 3 -> { // insert random bytes
                    byte[] ins = new byte[1 + r.nextInt(16)];
                    r.nextBytes(ins);
                    b = splice(b, at, 0, ins);
                }
                case 4 -> { // delete a run
                    if (len > 0) {
                        b = splice(b, at, Math.min(len - at, 1 + r.nextInt(32)), new byte[0]);
                    }
                }
                case 5 -> { // duplicate a run
                    if (len > 0) {
                        int n = Math.min(len - at, 1 + r.nextInt(64));
                        b = splice(b, at, 0, Arrays.copyOfRange(b, at, at + n));
                    }
                }
                case 6 -> b = Arrays.copyOf(b, at); // truncate
                default -> { // copy a run over another place
                    if (len > 1) {
                        int from = r.nextInt(len);
                        int n = Math.min(Math.min(len - from, len - at), 1 + r.nextInt(32));
                        System.arraycopy(b, from, b, at, n);
                    }
                }
            }
        }
        return b;
    }

    private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
        byte[] out = new byte[b.length - remove + insert.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(insert, 0, out, at, insert.length);
        System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
        return out;
    }

    /** Writes {@code bytes} to a fresh temporary file named {@code name} (parsers that read paths). */
    public static Path file(byte[] bytes, String name) {
        try {
            Path dir = Files.createTempDirectory("zimage4j-fuzz");
            dir.toFile().deleteOnExit();
            Path f = dir.resolve(name);
            Files.write(f, bytes);
            f.toFile().deleteOnExit();
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Deletes a file from {@link #file} and its folder. */
    public static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.getParent());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
