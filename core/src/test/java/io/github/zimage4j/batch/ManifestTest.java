package io.github.zimage4j.batch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ManifestTest {

    @TempDir
    Path dir;

    @Test
    void recordsRoundTripAndTheLastRecordOfAnIdCounts() throws IOException {
        Path file = dir.resolve(Manifest.FILE_NAME);
        try (Manifest m = Manifest.open(file, w -> { })) {
            m.append(ManifestRecord.failed("a", 1.5, "java", "boom: \"quoted\"\nnext line"));
            m.append(ManifestRecord.done("b", 7, "b.png", "ab", 10, 2.25, "java"));
            m.append(ManifestRecord.done("a", 8, "a.png", "cd", 11, 3, "java"));
        }
        List<String> lines = Files.readAllLines(file);
        assertEquals(3, lines.size());
        assertEquals("{\"id\":\"b\",\"status\":\"done\",\"seed\":7,\"file\":\"b.png\",\"sha256\":\"ab\",\"bytes\":10,\"seconds\":2.25,\"backend\":\"java\"}",
                lines.get(1));
        try (Manifest m = Manifest.open(file, w -> { })) {
            assertEquals(List.of("b", "a"), List.copyOf(m.latest().keySet()));
            assertTrue(m.latest().get("a").isDone());
            assertEquals(8L, m.latest().get("a").seed());
        }
        assertEquals("boom: \"quoted\"\nnext line", Manifest.readAll(file).get(0).error());
    }

    @Test
    void aTornLastLineIsReportedAndCutOff() throws IOException {
        Path file = dir.resolve(Manifest.FILE_NAME);
        try (Manifest m = Manifest.open(file, w -> { })) {
            m.append(ManifestRecord.done("a", 1, "a.png", "00", 1, 1, "java"));
        }
        Files.writeString(file, "{\"id\":\"b\",\"status\":\"do", StandardOpenOption.APPEND);
        assertEquals(1, Manifest.readAll(file).size());
        List<String> warnings = new ArrayList<>();
        try (Manifest m = Manifest.open(file, warnings::add)) {
            assertEquals(1, warnings.size());
            assertTrue(warnings.get(0).contains("incomplete"), warnings.get(0));
            assertEquals(List.of("a"), List.copyOf(m.latest().keySet()));
            m.append(ManifestRecord.done("b", 2, "b.png", "01", 1, 1, "java"));
        }
        assertEquals(List.of("a", "b"), Manifest.readAll(file).stream().map(ManifestRecord::id).toList());
    }

    @Test
    void aBrokenLineInTheMiddleIsAnError() throws IOException {
        Path file = dir.resolve(Manifest.FILE_NAME);
        Files.writeString(file, "{\"id\":\"a\"}\n{\"id\":\"b\",\"status\":\"failed\",\"seconds\":1}\n", StandardCharsets.UTF_8);
        IOException e = assertThrows(IOException.class, () -> Manifest.open(file, w -> { }));
        assertTrue(e.getMessage().contains("line 1 is not a manifest record"), e.getMessage());
    }

    @Test
    void twoRunsCannotWriteOneManifest() throws IOException {
        Path file = dir.resolve(Manifest.FILE_NAME);
        try (Manifest m = Manifest.open(file, w -> { })) {
            IOException e = assertThrows(IOException.class, () -> Manifest.open(file, w -> { }));
            assertTrue(e.getMessage().contains("in use by another batch run"), e.getMessage());
        }
    }
}
