package io.github.zimage4j.testing;

import io.github.zimage4j.io.ModelFileException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fuzz contract itself can fail, and mutations change their seed. */
class FuzzTest {

    private static final byte[] INPUT = {1, 2, 3};

    @Test
    void typedFailuresWithAMessagePassEverythingElseFails() {
        assertDoesNotThrow(() -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> { }));
        assertDoesNotThrow(() -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new ModelFileException("x.safetensors: truncated header");
        }));
        assertDoesNotThrow(() -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new IllegalArgumentException("bad value");
        }));
        assertThrows(AssertionError.class, () -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new NullPointerException();
        }));
        assertThrows(AssertionError.class, () -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new IllegalArgumentException();
        }));
        assertThrows(AssertionError.class, () -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new java.io.IOException("untyped");
        }));
        assertThrows(AssertionError.class, () -> Fuzz.expectTypedFailureOrSuccess(INPUT, () -> {
            throw new OutOfMemoryError("Java heap space");
        }));
    }

    @Test
    void aRunFailsOnTheFirstUntypedFailure() {
        AssertionError e = assertThrows(AssertionError.class, () -> Fuzz.run("self-test", java.util.List.of(INPUT), 10, b -> {
            throw new IllegalStateException("boom");
        }));
        assertTrue(e.getMessage().startsWith("self-test try 0 of 10"), e.getMessage());
        assertDoesNotThrow(() -> Fuzz.run("self-test", java.util.List.of(INPUT), 10, b -> { }));
    }

    @Test
    void mutationsChangeTheSeed() {
        byte[] seed = new byte[256];
        Arrays.fill(seed, (byte) 'x');
        Random r = new Random(1);
        int changed = 0;
        for (int i = 0; i < 100; i++) {
            if (!Arrays.equals(seed, Fuzz.mutate(seed, r, 1 + r.nextInt(8)))) {
                changed++;
            }
        }
        assertTrue(changed > 80, changed + " of 100 mutants differ from their seed");
    }
}
