package io.github.zimage4j.testing;

import io.github.zimage4j.io.ModelFileException;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Fuzzing support for file parsers (jqwik properties with a fixed seed and a bounded number of tries):
 * inputs are valid files with a few random mutations, the contract is that a parser either succeeds or
 * fails with a typed, explained error.
 *
 * <p>Use: {@code @Property(tries = N, seed = Fuzz.SEED) void f(@ForAll("inputs") byte[] file)} with a
 * provider returning {@link #mutations(List)} of real files, and the body
 * {@code Fuzz.expectTypedFailureOrSuccess(() -> Parser.read(Fuzz.file(bytes)))}.
 */
public final class Fuzz {

    private Fuzz() {
    }

    /** The seed every fuzz property uses, so a CI run is repeatable. */
    public static final String SEED = "20261205";

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

    /**
     * Files derived from {@code seeds}: one seed with 1–8 mutations (bit flips, interesting byte values,
     * little-endian integers overwritten with edge values, inserted, deleted, duplicated or truncated runs).
     */
    public static Arbitrary<byte[]> mutations(List<byte[]> seeds) {
        return Combinators.combine(Arbitraries.of(seeds), Arbitraries.longs(), Arbitraries.integers().between(1, 8))
                .as((seed, random, count) -> mutate(seed, new Random(random), count));
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
