package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.ModelFileException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundled resource holds exactly the golden tokenizer.json's data, and its format reads back what it wrote. */
class BundledTokenizerTest {

    @TempDir
    Path tmp;

    static TokenizerData golden() throws IOException {
        return TokenizerJsonReader.read(TokenizerGoldenTest.publishedTokenizerJson());
    }

    static TokenizerData bundledData() throws IOException {
        try (InputStream in = Qwen3Tokenizer.class.getResourceAsStream(Qwen3Tokenizer.BUNDLED_RESOURCE)) {
            assertNotNull(in, "resource " + Qwen3Tokenizer.BUNDLED_RESOURCE);
            return CompactTokenizerFile.read(in, "bundled");
        }
    }

    static void assertSameData(TokenizerData expected, TokenizerData actual) {
        assertEquals(expected.splitRegex(), actual.splitRegex(), "split regex");
        assertEquals(expected.nfc(), actual.nfc(), "nfc");
        assertEquals(expected.vocab().length, actual.vocab().length, "vocabulary size");
        for (int id = 0; id < expected.vocab().length; id++) {
            assertArrayEquals(expected.vocab()[id], actual.vocab()[id], "bytes of token " + id);
        }
        assertArrayEquals(expected.mergeLeft(), actual.mergeLeft(), "merge left ids");
        assertArrayEquals(expected.mergeRight(), actual.mergeRight(), "merge right ids");
        assertArrayEquals(expected.mergeResult(), actual.mergeResult(), "merge result ids");
        assertEquals(expected.addedTokens(), actual.addedTokens(), "added tokens");
    }

    @Test
    void bundledResourceHoldsTheGoldenTokenizerJson() throws IOException {
        TokenizerData golden = golden();
        assertEquals(151643, golden.vocab().length);
        assertEquals(151387, golden.mergeLeft().length);
        assertEquals(26, golden.addedTokens().size());
        assertSameData(golden, bundledData());
    }

    @Test
    void compactFormatRoundTrip() throws IOException {
        TokenizerData golden = golden();
        Path file = tmp.resolve("t.bin.gz");
        CompactTokenizerFile.write(golden, file);
        try (InputStream in = Files.newInputStream(file)) {
            assertSameData(golden, CompactTokenizerFile.read(in, file.toString()));
        }
    }

    @Test
    void corruptCompactFilesAreRejected() throws IOException {
        Path file = tmp.resolve("t.bin.gz");
        CompactTokenizerFile.write(golden(), file);
        byte[] good = Files.readAllBytes(file);

        ModelFileException notGzip = assertThrows(ModelFileException.class,
                () -> CompactTokenizerFile.read(new ByteArrayInputStream("hello".getBytes()), "x.bin.gz"));
        assertTrue(notGzip.getMessage().startsWith("x.bin.gz: not a readable gzip stream"), notGzip.getMessage());

        ModelFileException truncated = assertThrows(ModelFileException.class,
                () -> CompactTokenizerFile.read(new ByteArrayInputStream(Arrays.copyOf(good, good.length / 2)), "x.bin.gz"));
        assertTrue(truncated.getMessage().startsWith("x.bin.gz: "), truncated.getMessage());

        Path other = tmp.resolve("other.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(other))) {
            out.write(new byte[] {1, 2, 3, 4, 0, 0, 0, 1});
        }
        ModelFileException badMagic = assertThrows(ModelFileException.class,
                () -> CompactTokenizerFile.read(Files.newInputStream(other), "other.gz"));
        assertEquals("other.gz: not a compact tokenizer file (bad magic number)", badMagic.getMessage());
    }
}
