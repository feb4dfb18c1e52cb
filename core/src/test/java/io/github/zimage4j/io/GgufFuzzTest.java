package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Corrupted GGUF files (seeded: byte flips in the header, truncations, overwritten counts and lengths)
 * either open with every tensor inside the file, or fail with a {@link ModelFileException} that names the
 * file: never another exception, a hang or a huge allocation.
 */
class GgufFuzzTest {

    @TempDir
    Path tmp;

    @Test
    void corruptedFilesFailCleanly() throws IOException {
        byte[] good = Files.readAllBytes(Golden.root().resolve("gguf/case-tensors-alltypes/tensors-alltypes.gguf"));
        int header;
        try (Gguf g = Gguf.open(Golden.root().resolve("gguf/case-tensors-alltypes/tensors-alltypes.gguf"))) {
            header = (int) g.dataStart();
        }
        Random rnd = new Random(20261205);
        int opened = 0;
        int refused = 0;
        for (int trial = 0; trial < 400; trial++) {
            byte[] bad = mutate(good, header, rnd);
            Path p = tmp.resolve("fuzz-" + trial + ".gguf");
            Files.write(p, bad);
            try (Gguf g = Gguf.open(p)) {
                for (String n : g.names()) {
                    StoredTensor t = g.get(n);
                    assertTrue(t.data().byteSize() == t.dtype().byteSize(t.numel()), n + " size");
                    if (t.numel() > 0) {
                        t.getFloat(t.numel() - 1); // the last element is readable
                    }
                }
                opened++;
            } catch (ModelFileException e) {
                assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
                refused++;
            } catch (RuntimeException | OutOfMemoryError e) {
                fail("trial " + trial + ": " + e + " instead of a ModelFileException", e);
            }
        }
        assertTrue(refused > 100 && opened > 0, "opened " + opened + ", refused " + refused);
    }

    private static byte[] mutate(byte[] good, int header, Random rnd) {
        byte[] b;
        switch (rnd.nextInt(4)) {
            case 0 -> { // flip a few header bytes
                b = good.clone();
                for (int i = 0, n = 1 + rnd.nextInt(4); i < n; i++) {
                    b[rnd.nextInt(header)] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            case 1 -> b = Arrays.copyOf(good, rnd.nextInt(good.length)); // truncate
            case 2 -> { // an extreme 64-bit value somewhere in the header (counts, lengths, dims, offsets)
                b = good.clone();
                int at = 8 + rnd.nextInt(header - 16);
                long v = switch (rnd.nextInt(4)) {
                    case 0 -> -1L;
                    case 1 -> Long.MAX_VALUE;
                    case 2 -> 1L << (32 + rnd.nextInt(31));
                    default -> rnd.nextInt(1 << 16);
                };
                for (int i = 0; i < 8; i++) {
                    b[at + i] = (byte) (v >>> (8 * i));
                }
            }
            default -> { // a random byte run over the tensor infos
                b = good.clone();
                int at = header / 2 + rnd.nextInt(header / 2);
                for (int i = at; i < Math.min(header, at + 1 + rnd.nextInt(16)); i++) {
                    b[i] = (byte) rnd.nextInt(256);
                }
            }
        }
        return b;
    }
}
